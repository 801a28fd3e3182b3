"""Kibana's KQL, reimplemented for the tests: parser and translation to Query DSL.

KQL cannot run without Kibana, so the tests parse every es_kql output with this parser and run the
Query DSL it gives on a real OpenSearch. Both halves follow Kibana's source (@kbn/es-query, main branch):

- `parse` is the PEG grammar `src/kuery/grammar/grammar.peggy`, rule for rule (ordered choice,
  backtracking, the same actions: unquoted values are trimmed with JavaScript's trim(), `null`/`true`/
  `false` are literals, a value with an unescaped `*` is a wildcard node). Cursor (autocomplete) rules
  are left out: they only apply when Kibana parses with `parseCursor`.
- `to_dsl` is `toElasticsearchQuery` of the `or`, `and`, `not`, `is`, `range`, `nested` functions.
  `field_types=None` is how the detection engine calls it (a data view without fields:
  security_solution get_query_filter.ts); a {field: [es types]} table is a Discover data view.

Nothing here imports the backend: it is an independent reading of Kibana's grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

WILDCARD_SYMBOL = "@kuery-wildcard@"
SPACE = frozenset(" \t\r\n\u00a0")  # grammar rule Space
SPECIAL = frozenset('\\():<>"*{}')  # grammar rule SpecialCharacter
# ECMAScript WhiteSpace + LineTerminator: what String.prototype.trim() removes.
JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
                "\u2028\u2029\u202f\u205f\u3000\ufeff"
# @kbn/es-query node_types/wildcard.ts escapeQueryString
_QUERY_STRING_RESERVED = re.compile(r'([+\-=&|><!(){}\[\]^"~*?:\\/])')


class KqlSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Literal:
    value: str | bool | None
    quoted: bool = False


@dataclass(frozen=True)
class WildcardValue:
    value: str  # with WILDCARD_SYMBOL where the query had an unescaped *

    def query_string(self) -> str:
        return "*".join(_QUERY_STRING_RESERVED.sub(r"\\\1", part) for part in self.value.split(WILDCARD_SYMBOL))

    def is_lone_wildcard(self) -> bool:
        return WILDCARD_SYMBOL in self.value and self.value.replace(WILDCARD_SYMBOL, "", 1) == ""


Value = Literal | WildcardValue


@dataclass(frozen=True)
class Function:
    name: str  # or, and, not, is, range, nested
    args: tuple[Any, ...]


class _Fail(Exception):
    pass


class _Parser:
    """One method per grammar rule; each takes a position and returns (result, new position) or raises _Fail."""

    def __init__(self, text: str):
        self.text = text
        self.farthest = 0

    # --- terminals -------------------------------------------------------------------------------
    def lit(self, pos: int, s: str, ignore_case: bool = False) -> int:
        chunk = self.text[pos:pos + len(s)]
        if (chunk.lower() == s.lower()) if ignore_case else (chunk == s):
            return pos + len(s)
        self.farthest = max(self.farthest, pos)
        raise _Fail

    def space(self, pos: int) -> int:
        if pos < len(self.text) and self.text[pos] in SPACE:
            return pos + 1
        self.farthest = max(self.farthest, pos)
        raise _Fail

    def spaces(self, pos: int, minimum: int = 0) -> int:
        count = 0
        while pos < len(self.text) and self.text[pos] in SPACE:
            pos += 1
            count += 1
        if count < minimum:
            raise _Fail
        return pos

    # --- rules -----------------------------------------------------------------------------------
    def start(self) -> Any:
        pos = self.spaces(0)
        query = None
        try:
            query, pos = self.or_query(pos)
        except _Fail:
            pass
        pos = self.spaces(pos)
        if pos != len(self.text):
            raise KqlSyntaxError(f"KQL syntax error at offset {max(self.farthest, pos)}: {self.text!r}")
        return query if query is not None else Function("is", (WildcardValue(WILDCARD_SYMBOL),
                                                               WildcardValue(WILDCARD_SYMBOL)))

    def _list(self, pos: int, item, separator, name: str) -> tuple[Any, int]:
        head, pos = item(pos)
        nodes = [head]
        while True:
            try:
                after_sep = separator(pos)
                node, after = item(after_sep)
            except _Fail:
                break
            nodes.append(node)
            pos = after
        return (head, pos) if len(nodes) == 1 else (Function(name, tuple(nodes)), pos)

    def or_query(self, pos: int) -> tuple[Any, int]:
        return self._list(pos, self.and_query, self.or_, "or")

    def and_query(self, pos: int) -> tuple[Any, int]:
        return self._list(pos, self.not_query, self.and_, "and")

    def not_query(self, pos: int) -> tuple[Any, int]:
        try:
            query, after = self.sub_query(self.not_(pos))
            return Function("not", (query,)), after
        except _Fail:
            return self.sub_query(pos)

    def sub_query(self, pos: int) -> tuple[Any, int]:
        try:
            p = self.spaces(self.lit(pos, "("))
            query, p = self.or_query(p)
            return query, self.lit(self.spaces(p), ")")
        except _Fail:
            return self.nested_query(pos)

    def nested_query(self, pos: int) -> tuple[Any, int]:
        try:
            field, p = self.literal(pos)
            p = self.spaces(self.lit(self.spaces(self.lit(self.spaces(p), ":")), "{"))
            query, p = self.or_query(p)
            return Function("nested", (field, query)), self.lit(self.spaces(p), "}")
        except _Fail:
            return self.expression(pos)

    def expression(self, pos: int) -> tuple[Any, int]:
        for rule in (self.field_range_expression, self.field_value_expression, self.value_expression):
            try:
                return rule(pos)
            except _Fail:
                continue
        raise _Fail

    def field_range_expression(self, pos: int) -> tuple[Any, int]:
        field, p = self.literal(pos)
        p = self.spaces(p)
        for token, name in (("<=", "lte"), (">=", "gte"), ("<", "lt"), (">", "gt")):
            try:
                p2 = self.lit(p, token)
                operator = name
                break
            except _Fail:
                continue
        else:
            raise _Fail
        value, p2 = self.literal(self.spaces(p2))
        return Function("range", (field, operator, value)), p2

    def field_value_expression(self, pos: int) -> tuple[Any, int]:
        field, p = self.literal(pos)
        p = self.spaces(self.lit(self.spaces(p), ":"))
        partial, p = self.list_of_values(p)
        return partial(field), p

    def value_expression(self, pos: int) -> tuple[Any, int]:
        partial, p = self.value(pos)
        return partial(Literal(None)), p

    def list_of_values(self, pos: int) -> tuple[Any, int]:
        try:
            p = self.spaces(self.lit(pos, "("))
            partial, p = self.or_list_of_values(p)
            return partial, self.lit(self.spaces(p), ")")
        except _Fail:
            return self.value(pos)

    def _partial_list(self, pos: int, item, separator, name: str) -> tuple[Any, int]:
        head, pos = item(pos)
        partials = [head]
        while True:
            try:
                partial, after = item(separator(pos))
            except _Fail:
                break
            partials.append(partial)
            pos = after
        if len(partials) == 1:
            return head, pos
        return (lambda field: Function(name, tuple(p(field) for p in partials))), pos

    def or_list_of_values(self, pos: int) -> tuple[Any, int]:
        return self._partial_list(pos, self.and_list_of_values, self.or_, "or")

    def and_list_of_values(self, pos: int) -> tuple[Any, int]:
        return self._partial_list(pos, self.not_list_of_values, self.and_, "and")

    def not_list_of_values(self, pos: int) -> tuple[Any, int]:
        try:
            partial, p = self.list_of_values(self.not_(pos))
            return (lambda field: Function("not", (partial(field),))), p
        except _Fail:
            return self.list_of_values(pos)

    def value(self, pos: int) -> tuple[Any, int]:
        value, p = self.literal(pos)  # QuotedString / UnquotedLiteral, as the Value rule
        return (lambda field: Function("is", (field, value))), p

    def or_(self, pos: int) -> int:
        return self.spaces(self.lit(self.spaces(pos, 1), "or", True), 1)

    def and_(self, pos: int) -> int:
        return self.spaces(self.lit(self.spaces(pos, 1), "and", True), 1)

    def not_(self, pos: int) -> int:
        return self.spaces(self.lit(pos, "not", True), 1)

    def keyword(self, pos: int) -> int:
        for word in ("or", "and"):
            try:
                return self.space(self.lit(self.space(pos), word, True))
            except _Fail:
                continue
        return self.space(self.lit(pos, "not", True))

    def literal(self, pos: int) -> tuple[Value, int]:
        try:
            return self.quoted_string(pos)
        except _Fail:
            return self.unquoted_literal(pos)

    def quoted_string(self, pos: int) -> tuple[Literal, int]:
        p = self.lit(pos, '"')
        chars = []
        while True:
            try:
                char, p = self.quoted_character(p)
            except _Fail:
                break
            chars.append(char)
        return Literal("".join(chars), quoted=True), self.lit(p, '"')

    def quoted_character(self, pos: int) -> tuple[str, int]:
        if pos < len(self.text) and self.text[pos] not in '\\"':  # fast path: a plain character
            return self.text[pos], pos + 1
        for rule in (self.escaped_whitespace, self.escaped_unicode):
            try:
                return rule(pos)
            except _Fail:
                continue
        if self.text[pos:pos + 2] in ("\\\\", '\\"'):
            return self.text[pos + 1], pos + 2
        if pos < len(self.text) and self.text[pos] != '"':
            return self.text[pos], pos + 1
        raise _Fail

    def unquoted_literal(self, pos: int) -> tuple[Value, int]:
        chars = []
        while True:
            try:
                char, pos = self.unquoted_character(pos)
            except _Fail:
                break
            chars.append(char)
        if not chars:
            self.farthest = max(self.farthest, pos)
            raise _Fail
        sequence = "".join(chars).strip(JS_WHITESPACE)
        if sequence == "null":
            return Literal(None), pos
        if sequence in ("true", "false"):
            return Literal(sequence == "true"), pos
        if WILDCARD_SYMBOL in chars:
            return WildcardValue(sequence), pos
        return Literal(sequence), pos

    def unquoted_character(self, pos: int) -> tuple[str, int]:
        char = self.text[pos:pos + 1]
        if char and char not in SPECIAL and char not in SPACE and char not in "nN":
            return char, pos + 1  # fast path: no escape, wildcard, special character or keyword starts here
        for rule in (self.escaped_whitespace, self.escaped_special, self.escaped_unicode, self.escaped_keyword):
            try:
                return rule(pos)
            except _Fail:
                continue
        if self.text[pos:pos + 1] == "*":
            return WILDCARD_SYMBOL, pos + 1
        if pos >= len(self.text) or self.text[pos] in SPECIAL:
            raise _Fail
        try:
            self.keyword(pos)
        except _Fail:
            return self.text[pos], pos + 1
        raise _Fail

    def escaped_whitespace(self, pos: int) -> tuple[str, int]:
        escapes = {"\\t": "\t", "\\r": "\r", "\\n": "\n"}
        if self.text[pos:pos + 2] in escapes:
            return escapes[self.text[pos:pos + 2]], pos + 2
        raise _Fail

    def escaped_special(self, pos: int) -> tuple[str, int]:
        if self.text[pos:pos + 1] == "\\" and self.text[pos + 1:pos + 2] and self.text[pos + 1] in SPECIAL:
            return self.text[pos + 1], pos + 2
        raise _Fail

    def escaped_keyword(self, pos: int) -> tuple[str, int]:
        p = self.lit(pos, "\\")
        for word in ("or", "and", "not"):
            try:
                end = self.lit(p, word, True)
                return self.text[p:end], end
            except _Fail:
                continue
        raise _Fail

    def escaped_unicode(self, pos: int) -> tuple[str, int]:
        match = re.match(r"\\u([0-9a-fA-F]{4})", self.text[pos:pos + 6])
        if match:
            return chr(int(match.group(1), 16)), pos + 6
        raise _Fail


def parse(query: str) -> Any:
    """The KQL syntax tree of `query`; KqlSyntaxError where Kibana's parser would reject it."""
    return _Parser(query).start()


# --- translation to Query DSL ---------------------------------------------------------------------
def to_dsl(node: Any, field_types: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Query DSL of a KQL tree, as @kbn/es-query's toElasticsearchQuery builds it."""
    if not isinstance(node, Function):
        raise TypeError(f"not a KQL function node: {node!r}")
    if node.name == "or":
        return {"bool": {"should": [to_dsl(a, field_types) for a in node.args], "minimum_should_match": 1}}
    if node.name == "and":
        return {"bool": {"filter": [to_dsl(a, field_types) for a in node.args]}}
    if node.name == "not":
        return {"bool": {"must_not": to_dsl(node.args[0], field_types)}}
    if node.name == "is":
        return _is(node.args[0], node.args[1], field_types)
    if node.name == "range":
        field, operator, value = node.args
        return {"bool": {"should": [{"range": {_field_name(field): {operator: value.value}}}],
                         "minimum_should_match": 1}}
    raise NotImplementedError(f"KQL function {node.name} (not produced by es_kql)")


def _field_name(field: Value) -> str:
    if isinstance(field, WildcardValue):
        raise NotImplementedError("wildcard field names (not produced by es_kql)")
    return str(field.value)


def _is(field: Value, value: Value, field_types: dict[str, list[str]] | None) -> dict[str, Any]:
    is_exists = isinstance(value, WildcardValue) and value.is_lone_wildcard()
    if isinstance(field, WildcardValue) and field.is_lone_wildcard() and is_exists:
        return {"match_all": {}}
    if isinstance(field, Literal) and field.value is None:
        if isinstance(value, WildcardValue):
            return {"query_string": {"query": value.query_string()}}
        return {"multi_match": {"type": "phrase" if value.quoted else "best_fields", "query": value.value,
                                "lenient": True}}
    name = _field_name(field)
    es_types = (field_types or {}).get(name, [])
    is_keyword = es_types == ["keyword"]
    if is_exists:
        query: dict[str, Any] = {"exists": {"field": name}}
    elif isinstance(value, WildcardValue):
        query = ({"wildcard": {name: {"value": value.query_string()}}} if is_keyword
                 else {"query_string": {"fields": [name], "query": value.query_string()}})
    elif es_types == ["date"]:
        query = {"range": {name: {"gte": value.value, "lte": value.value}}}
    elif is_keyword:
        query = {"term": {name: {"value": value.value}}}
    else:
        query = {"match_phrase" if value.quoted else "match": {name: value.value}}
    return {"bool": {"should": [query], "minimum_should_match": 1}}
