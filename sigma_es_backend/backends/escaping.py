"""Escaping rules of every target language, in one place.

Each function renders a `Pattern` (Sigma literal text + wildcards) or a plain string into the syntax of
one language. Backends never escape on their own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from sigma_es_backend.backends.pattern import Pattern, Wildcard

# Lucene query_string reserves these; whitespace ends a term, so it is escaped too.
LUCENE_RESERVED = frozenset('+-=&|><!(){}[]^"~*?:\\/')
# Lucene RegExp syntax (all optional operators enabled, as query_string does) plus the delimiter '/'.
LUCENE_REGEXP_RESERVED = frozenset('.?+*|{}[]()"\\#@&<>~/')
LUCENE_FIELD_RESERVED = re.compile(r'([\s+\-=&|><!(){}\[\]^"~*?:\\/])')


def case_variants(char: str) -> list[str]:
    """Single characters that are equal to `char` when case is ignored (ß has no 1-char upper form)."""
    variants = {char}
    for other in (char.lower(), char.upper(), char.casefold()):
        if len(other) == 1:
            variants.add(other)
    return sorted(variants)


# --- Lucene query_string ------------------------------------------------------------------------
class CharTable(dict):
    """A `str.translate` table that renders each character with `render` on its first use.

    Escaping then runs at C speed over whole literal runs (a hot path of bulk conversion: per-character
    Python loops were a tenth of es_lucene's conversion time), while what each character becomes is
    still decided by one plain function.
    """

    def __init__(self, render: Callable[[str], str]):
        super().__init__()
        self._render = render

    def __missing__(self, code: int) -> str:
        rendered = self[code] = self._render(chr(code))
        return rendered


def _lucene_term_char(c: str) -> str:
    return "\\" + c if c in LUCENE_RESERVED or c.isspace() else c


_LUCENE_TERM = CharTable(_lucene_term_char)


@lru_cache(maxsize=8192)  # bulk conversion renders the same values in many rules
def lucene_term(pattern: Pattern) -> str:
    """A query_string term: literal characters escaped, Sigma wildcards as Lucene wildcards."""
    if not pattern.parts:
        return '""'
    if not pattern.has_wildcards and pattern.text[0] in "<>":
        # query_string reads a term starting with `<`/`>` as a range even when escaped (`a:\<x` is
        # `a:[* TO x}` on OpenSearch 2.19): a quoted phrase is the literal term on keyword fields.
        return lucene_phrase(pattern.text)
    return "".join(part.value if isinstance(part, Wildcard) else part.translate(_LUCENE_TERM)
                   for part in pattern.parts)


def lucene_phrase(text: str) -> str:
    """A quoted query_string phrase: only `"` and `\\` are special inside."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@lru_cache(maxsize=4096)  # a few hundred distinct field names, rendered once per value
def lucene_field(field: str) -> str:
    return LUCENE_FIELD_RESERVED.sub(r"\\\1", field)


@lru_cache(maxsize=4096)  # a hot path of bulk conversion: the same few characters over and over
def regexp_literal_char(c: str, case_insensitive: bool, reserved: frozenset[str] = LUCENE_REGEXP_RESERVED) -> str:
    """One literal character in Lucene RegExp syntax, optionally as a case-insensitive class."""
    if case_insensitive:
        variants = case_variants(c)
        if len(variants) > 1:
            return "[" + "".join(variants) + "]"
    if c in reserved:
        return "\\" + c
    return c


_REGEXP_WILDCARDS = {Wildcard.MULTI: ".*", Wildcard.SINGLE: "."}


@lru_cache(maxsize=8)
def _regexp_table(case_insensitive: bool, reserved: frozenset[str], backslash_class: bool) -> CharTable:
    """Literal characters → Lucene RegExp, for one combination of regexp_from_pattern's options."""
    def render(c: str) -> str:
        if c == "\\" and backslash_class:
            return "[\\\\\\\\]"
        return regexp_literal_char(c, case_insensitive, reserved)

    return CharTable(render)


@lru_cache(maxsize=8192)  # bulk conversion renders the same values in many rules
def regexp_from_pattern(pattern: Pattern, case_insensitive: bool, delimiter_escape: bool = True,
                        backslash_class: bool = False) -> str:
    """Lucene RegExp (anchored, as Lucene matches whole values) equivalent to a Sigma pattern.

    backslash_class: a literal backslash as the class `[\\\\]` (the escaped backslash twice) instead of the
    escape `\\`: the form OpenSearch's wildcard field type evaluates exactly next to an anchor or a wildcard
    (see DslBackend.match_pattern; `[\\-\\]` is no range in Lucene: it matches `-` too).
    """
    reserved = LUCENE_REGEXP_RESERVED if delimiter_escape else LUCENE_REGEXP_RESERVED - {"/"}
    table = _regexp_table(case_insensitive, reserved, backslash_class)
    return "".join(_REGEXP_WILDCARDS[part] if isinstance(part, Wildcard) else part.translate(table)
                   for part in pattern.parts)


def lucene_regexp_term(regexp: str) -> str:
    """Wrap a Lucene RegExp (already escaped for '/') as a query_string regexp term."""
    return "/" + regexp + "/"


# --- Query DSL -----------------------------------------------------------------------------------
def dsl_wildcard(pattern: Pattern) -> str:
    """Value of a `wildcard` query: only `*`, `?` and the escape character itself are special."""
    out = []
    for c in pattern.chars():
        if c is Wildcard.MULTI:
            out.append("*")
        elif c is Wildcard.SINGLE:
            out.append("?")
        elif c in "*?\\":
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


# --- EQL -----------------------------------------------------------------------------------------
_EQL_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def eql_string(text: str) -> str:
    """A double-quoted EQL string literal."""
    return '"' + "".join(_EQL_STRING_ESCAPES.get(c, c) for c in text) + '"'


def eql_wildcard_expressible(pattern: Pattern) -> bool:
    """EQL wildcard patterns (`:` / `like`) have no escape for a literal `*` or `?`."""
    return not any(c in "*?" for c in pattern.text)


def eql_wildcard(pattern: Pattern) -> str:
    return eql_string("".join(c.value if isinstance(c, Wildcard) else c for c in pattern.chars()))


# --- ES|QL ---------------------------------------------------------------------------------------
def esql_string(text: str) -> str:
    """A double-quoted ES|QL string literal."""
    return '"' + "".join(_EQL_STRING_ESCAPES.get(c, c) for c in text) + '"'


def esql_like(pattern: Pattern) -> str:
    """A LIKE pattern as a string literal: literal `*`, `?` and `\\` are escaped with a backslash."""
    out = []
    for c in pattern.chars():
        if isinstance(c, Wildcard):
            out.append(c.value)
        elif c in "*?\\":
            out.append("\\" + c)
        else:
            out.append(c)
    return esql_string("".join(out))


def esql_field(field: str) -> str:
    """Field names with characters outside ES|QL identifiers are quoted with backticks."""
    if re.fullmatch(r"[A-Za-z_@][A-Za-z0-9_.@]*", field):
        return field
    return "`" + field.replace("`", "``") + "`"


def eql_field(field: str) -> str:
    if re.fullmatch(r"[A-Za-z_@][A-Za-z0-9_.@]*", field):
        return field
    return "`" + field.replace("`", "``") + "`"


# --- KQL (Kibana Query Language, "kuery") --------------------------------------------------------
# Reserved by Kibana's kuery grammar (@kbn/es-query grammar.peggy, rule SpecialCharacter).
KQL_SPECIAL = frozenset('\\():<>"*{}')
# Kibana turns a KQL wildcard value into a query_string term, escaping query_string's operators but not
# whitespace: these characters (Lucene's classic query parser whitespace) would split the term.
QUERY_STRING_WHITESPACE = frozenset(" \t\n\r\u3000")
# JavaScript String.prototype.trim() removes these; Kibana trims every unquoted value.
JS_TRIMMED = frozenset("\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff"
                       + "".join(chr(c) for c in range(0x2000, 0x200B)))
_KQL_QUOTED_ESCAPES = {"\\": "\\\\", '"': '\\"', "\t": "\\t", "\r": "\\r", "\n": "\\n"}


class KqlValueError(ValueError):
    """A value that KQL (as Kibana translates it) cannot match exactly; the message says why."""


def kql_quoted(text: str) -> str:
    """A quoted KQL value: matched as a phrase, literally (no wildcards); not trimmed."""
    return '"' + "".join(_KQL_QUOTED_ESCAPES.get(c, c) for c in text) + '"'


def _kql_unquoted_char(c: str) -> str:
    if c in KQL_SPECIAL:
        return "\\" + c
    # Never write raw whitespace: the grammar's keywords (` or `, ` and `, `not `) need a raw Space.
    if (c.isspace() or c in JS_TRIMMED or not c.isprintable()) and ord(c) <= 0xFFFF:
        return f"\\u{ord(c):04x}"
    return c


def kql_wildcard(pattern: Pattern) -> str:
    """An unquoted KQL wildcard value (`*` only), or KqlValueError when KQL cannot say it exactly."""
    if any(c is Wildcard.SINGLE for c in pattern.parts):
        raise KqlValueError("the single-character wildcard '?' has no KQL equivalent (KQL wildcards are '*' only)")
    split = sorted({repr(c) for c in pattern.text if c in QUERY_STRING_WHITESPACE})
    if split:
        raise KqlValueError(
            f"whitespace {', '.join(split)} in a wildcard value: Kibana runs KQL wildcard values as query_string "
            "terms without escaping whitespace, which splits them into separate terms")
    first, last = pattern.parts[0], pattern.parts[-1]
    if (isinstance(first, str) and first[0] in JS_TRIMMED) or (isinstance(last, str) and last[-1] in JS_TRIMMED):
        raise KqlValueError("leading or trailing whitespace in a wildcard value: Kibana trims unquoted KQL values")
    return "".join("*" if part is Wildcard.MULTI else _kql_unquoted_text(part) for part in pattern.parts)


def _kql_unquoted_text(text: str) -> str:
    # `not` followed by whitespace is a keyword even inside a value (`*cannot and …`). The grammar's
    # escaped keyword `\not` is shadowed by the escaped newline `\n` (PEG ordered choice: it reads as
    # newline + "ot"), so the `n` of every `not` is written as a unicode escape instead.
    # (` or ` / ` and ` need raw whitespace around them, which is never written.)
    out = []
    for i, c in enumerate(text):
        if text[i:i + 3].lower() == "not":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(_kql_unquoted_char(c))
    return "".join(out)


def kql_field(field: str) -> str:
    return _kql_unquoted_text(field)
