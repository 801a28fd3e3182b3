"""Evaluate the ES|QL our es_esql backend writes on in-memory events (no Elasticsearch here).

Only the subset the backend emits: `FROM … | WHERE <condition>` with AND/OR/NOT, `==` `!=` `<`
`<=` `>` `>=`, `LIKE`, `RLIKE`, `IS [NOT] NULL`, `TO_LOWER`, `CONCAT`, `CIDR_MATCH`, `STARTS_WITH`,
`ENDS_WITH`, `LOCATE`, `DATE_EXTRACT`. Semantics as Elasticsearch documents them: a missing field
is null, comparisons with null are null, three-valued AND/OR/NOT, WHERE keeps rows whose condition
is true; string comparisons and LIKE/RLIKE are case-sensitive; LIKE knows `*`, `?` and `\\`
escapes; RLIKE and LIKE match the whole value. Anything outside the subset raises, so a query the
evaluator cannot read fails the test instead of passing it.

Correlation queries (`esql_rows`) add: `+ - *` on numbers, `NOW()` and `<n> seconds` (a fixed `now`
is given), `EVAL` with `CASE`, `MV_APPEND`, `MV_DEDUPE`, the `MV_EXPAND` command, and `STATS` with
`COUNT(*)`, `COUNT(f)` (non-null values), `SUM`, `MAX` and `BY` (a null key is a group, as in ES|QL;
`SUM`/`MAX` of no value is null).
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta
from typing import Any

from tests.lucene_regexp import python_regex

_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:\\.|[^"\\])*")|(?P<number>-?\d+(?:\.\d+)?)|(?P<op>==|!=|<=|>=|<|>)'
                    r'|(?P<arith>[-+*=])|(?P<punct>[(),])|(?P<name>`(?:``|[^`])*`|[A-Za-z_@][A-Za-z0-9_.@]*))')
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
_KEYWORDS = {"AND", "OR", "NOT", "IS", "NULL", "LIKE", "RLIKE", "TRUE", "FALSE"}


class EsqlSubsetError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if not match:
            raise EsqlSubsetError(f"cannot read ES|QL at {text[pos:pos + 30]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "name" and value.upper() in _KEYWORDS:
            kind, value = "kw", value.upper()
        out.append((kind, value))
        pos = match.end()
    return out


def _unquote(literal: str) -> str:
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\":
            out.append(_ESCAPES[body[i + 1]])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _like_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return "".join(out)


def _field(doc: dict[str, Any], name: str) -> Any:
    if name == "@timestamp" and isinstance(doc.get("@timestamp"), str):
        return datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00"))
    if name in doc:  # a column computed by EVAL / STATS (may hold several values)
        return doc[name]
    node: Any = doc
    for part in name.strip("`").split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, list):  # one-element arrays are single values; longer ones are out of scope
        if len(node) != 1:
            raise EsqlSubsetError(f"multi-valued field {name}")
        node = node[0]
    return node


def _date_part(part: str, value: Any) -> int | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    parts = {"minute_of_hour": moment.minute, "hour_of_day": moment.hour, "day_of_month": moment.day,
             "aligned_week_of_year": (moment.timetuple().tm_yday - 1) // 7 + 1,
             "month_of_year": moment.month, "year": moment.year}
    return parts[part]


def _mv(value: Any) -> list[Any]:
    return [] if value is None else list(value) if isinstance(value, list) else [value]


def _functions(name: str, args: list[Any]) -> Any:
    if name == "CASE":  # CASE(c1, v1, c2, v2, …[, else]): the value of the first true condition
        for index in range(0, len(args) - 1, 2):
            if args[index] is True:
                return args[index + 1]
        return args[-1] if len(args) % 2 else None
    if name == "MV_APPEND":
        values = _mv(args[0]) + _mv(args[1])
        return None if not values else values[0] if len(values) == 1 else values
    if name == "MV_DEDUPE":
        values = list(dict.fromkeys(_mv(args[0])))
        return None if not values else values[0] if len(values) == 1 else values
    if any(a is None for a in args):
        return None
    if name == "TO_LOWER":
        return args[0].lower()
    if name == "CONCAT":  # null when any argument is null (checked above)
        return "".join(args)
    if name == "CIDR_MATCH":
        return ipaddress.ip_address(args[0]) in ipaddress.ip_network(args[1], strict=False)
    if name == "STARTS_WITH":
        return args[0].startswith(args[1])
    if name == "ENDS_WITH":
        return args[0].endswith(args[1])
    if name == "LOCATE":
        return args[0].find(args[1]) + 1
    if name == "DATE_EXTRACT":
        return _date_part(args[0], args[1])
    raise EsqlSubsetError(f"function {name}")


def _arithmetic(left: Any, op: str, right: Any) -> Any:
    def evaluate(doc: dict[str, Any]) -> Any:
        a, b = left(doc), right(doc)
        if a is None or b is None:
            return None
        return a + b if op == "+" else a - b if op == "-" else a * b
    return evaluate


class _Parser:
    """Recursive descent over the token list, building closures doc → value."""

    def __init__(self, text: str, now: datetime | None = None):
        self.tokens = _tokens(text)
        self.i = 0
        self.now = now

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.i + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise EsqlSubsetError(f"expected {value!r}, got {token[1]!r}")
        self.i += 1
        return token

    def parse(self) -> Any:
        expr = self.or_()
        if self.peek()[0] != "end":
            raise EsqlSubsetError(f"trailing {self.peek()[1]!r}")
        return expr

    def or_(self) -> Any:
        terms = [self.and_()]
        while self.peek() == ("kw", "OR"):
            self.take()
            terms.append(self.and_())
        if len(terms) == 1:
            return terms[0]

        def evaluate(doc: dict[str, Any]) -> bool | None:
            values = [t(doc) for t in terms]
            return True if True in values else None if None in values else False
        return evaluate

    def and_(self) -> Any:
        terms = [self.not_()]
        while self.peek() == ("kw", "AND"):
            self.take()
            terms.append(self.not_())
        if len(terms) == 1:
            return terms[0]

        def evaluate(doc: dict[str, Any]) -> bool | None:
            values = [t(doc) for t in terms]
            return False if False in values else None if None in values else True
        return evaluate

    def not_(self) -> Any:
        if self.peek() == ("kw", "NOT"):
            self.take()
            inner = self.not_()
            return lambda doc: None if (v := inner(doc)) is None else not v
        return self.predicate()

    def predicate(self) -> Any:
        left = self.additive()
        kind, value = self.peek()
        if kind == "op":
            self.take()
            right = self.additive()
            compare = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
                       "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}[value]
            return lambda doc: None if (a := left(doc)) is None or (b := right(doc)) is None else compare(a, b)
        if value in ("LIKE", "RLIKE"):
            self.take()
            kind, literal = self.take()
            if kind != "string":
                raise EsqlSubsetError(f"{value} needs a string literal")
            pattern = _unquote(literal)
            regex = re.compile(_like_regex(pattern) if value == "LIKE" else python_regex(pattern), re.DOTALL)
            return lambda doc: None if (a := left(doc)) is None else regex.fullmatch(str(a)) is not None
        if value == "IS":
            self.take()
            negated = self.peek() == ("kw", "NOT")
            if negated:
                self.take()
            self.take("NULL")
            return lambda doc: (left(doc) is None) != negated
        return left  # a boolean-valued function call

    def additive(self) -> Any:
        left = self.term()
        while self.peek() in (("arith", "+"), ("arith", "-")):
            left = _arithmetic(left, self.take()[1], self.term())
        return left

    def term(self) -> Any:
        left = self.operand()
        while self.peek() == ("arith", "*"):
            left = _arithmetic(left, self.take()[1], self.operand())
        return left

    def operand(self) -> Any:
        if self.peek()[1] == "(":
            self.take()
            inner = self.or_()
            self.take(")")
            return inner
        kind, value = self.take()
        if kind == "number" and self.peek() == ("name", "seconds"):
            self.take()
            span = timedelta(seconds=int(value))
            return lambda doc: span
        if kind == "name" and value.upper() == "NOW" and self.peek()[1] == "(":
            self.take()
            self.take(")")
            return lambda doc: self.now
        if kind == "string":
            text = _unquote(value)
            return lambda doc: text
        if kind == "number":
            number = float(value) if "." in value else int(value)
            return lambda doc: number
        if kind == "kw" and value in ("TRUE", "FALSE"):
            return lambda doc: value == "TRUE"
        if kind == "name" and self.peek()[1] == "(":
            self.take()
            args = [self.or_()]
            while self.peek()[1] == ",":
                self.take()
                args.append(self.or_())
            self.take(")")
            return lambda doc: _functions(value.upper(), [a(doc) for a in args])
        if kind == "name":
            return lambda doc: _field(doc, value)
        raise EsqlSubsetError(f"unexpected {value!r}")


def esql_hits(query: str, documents: dict[str, dict[str, Any]]) -> set[str]:
    """Ids of the documents an es_esql query (`FROM … | WHERE …`) keeps."""
    head, separator, condition = query.partition(" | WHERE ")
    if not head.startswith("FROM ") or not separator:
        raise EsqlSubsetError(f"not a FROM … | WHERE … query: {query!r}")
    evaluate = _Parser(condition).parse()
    return {doc_id for doc_id, doc in documents.items() if evaluate(doc) is True}


def _pipes(query: str) -> list[str]:
    """The query's commands: split at ` | ` outside string literals."""
    parts, start, in_string, i = [], 0, False, 0
    while i < len(query):
        c = query[i]
        if in_string and c == "\\":
            i += 2
            continue
        if c == '"':
            in_string = not in_string
        elif not in_string and query.startswith(" | ", i):
            parts.append(query[start:i])
            start = i + 3
            i += 3
            continue
        i += 1
    return [*parts, query[start:]]


def _assignments(text: str, now: datetime) -> list[tuple[str, Any]]:
    """`a = expr, b = expr` (EVAL) → [(name, evaluator)]."""
    parser = _Parser(text, now)
    out = []
    while True:
        kind, name = parser.take()
        if kind != "name":
            raise EsqlSubsetError(f"EVAL needs a column name, got {name!r}")
        parser.take("=")
        out.append((name, parser.or_()))
        if parser.peek()[1] != ",":
            break
        parser.take()
    if parser.peek()[0] != "end":
        raise EsqlSubsetError(f"trailing {parser.peek()[1]!r}")
    return out


_AGGREGATE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*) = (?P<fn>COUNT|SUM|MAX)\((?P<arg>\*|[A-Za-z_@][A-Za-z0-9_.@]*)\)$")


def _stats(rows: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    aggregates_text, _, by_text = (text[3:], "", "") if text.startswith("BY ") else text.partition(" BY ")
    if text.startswith("BY "):
        aggregates_text, by_text = "", text[3:]
    by = [b.strip() for b in by_text.split(",")] if by_text else []
    aggregates = []
    for part in (p.strip() for p in aggregates_text.split(", ") if p.strip()):
        match = _AGGREGATE.match(part)
        if not match:
            raise EsqlSubsetError(f"STATS aggregate {part!r}")
        aggregates.append((match["name"], match["fn"], match["arg"]))
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        key = tuple(_field(row, b) for b in by)
        if any(isinstance(k, list) for k in key):
            raise EsqlSubsetError("STATS BY a multi-valued column")
        groups.setdefault(key, []).append(row)
    out = []
    for key, members in groups.items():
        result: dict[str, Any] = dict(zip(by, key, strict=True))
        for name, fn, arg in aggregates:
            values = [v for m in members for v in _mv(_field(m, arg))] if arg != "*" else members
            result[name] = (len(values) if fn == "COUNT" else (sum(values) if fn == "SUM" else max(values))
                            if values else None)
        out.append(result)
    return out


def esql_rows(query: str, documents: dict[str, dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The result rows of an es_esql correlation query over `documents`, evaluated at `now`."""
    commands = _pipes(query)
    if not commands[0].startswith("FROM "):
        raise EsqlSubsetError(f"not a FROM query: {query!r}")
    rows: list[dict[str, Any]] = [{**doc, "_id": doc_id} for doc_id, doc in documents.items()]
    for command in commands[1:]:
        verb, _, rest = command.partition(" ")
        if verb == "WHERE":
            condition = _Parser(rest, now).parse()
            rows = [row for row in rows if condition(row) is True]
        elif verb == "EVAL":
            assignments = _assignments(rest, now)
            for row in rows:
                for name, expression in assignments:
                    row[name] = expression(row)
        elif verb == "MV_EXPAND":
            rows = [{**row, rest: value} for row in rows for value in (_mv(_field(row, rest)) or [None])]
        elif verb == "STATS":
            rows = _stats(rows, rest)
        else:
            raise EsqlSubsetError(f"command {verb}")
    return rows
