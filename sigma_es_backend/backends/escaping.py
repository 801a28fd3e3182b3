"""Escaping rules of every target language, in one place.

Each function renders a `Pattern` (Sigma literal text + wildcards) or a plain string into the syntax of
one language. Backends never escape on their own.
"""

from __future__ import annotations

import re

from sigma_es_backend.backends.pattern import Pattern, Wildcard

# Lucene query_string reserves these; whitespace ends a term, so it is escaped too.
LUCENE_RESERVED = frozenset('+-=&|><!(){}[]^"~*?:\\/')
# Lucene RegExp syntax (all optional operators enabled, as query_string does) plus the delimiter '/'.
LUCENE_REGEXP_RESERVED = frozenset('.?+*|{}[]()"\\#@&<>~/')
LUCENE_FIELD_RESERVED = re.compile(r'([\s+\-=&|><!(){}\[\]^"~*?:\\/])')


def _case_variants(char: str) -> list[str]:
    """Single characters that are equal to `char` when case is ignored (ß has no 1-char upper form)."""
    variants = {char}
    for other in (char.lower(), char.upper(), char.casefold()):
        if len(other) == 1:
            variants.add(other)
    return sorted(variants)


# --- Lucene query_string ------------------------------------------------------------------------
def lucene_term(pattern: Pattern) -> str:
    """A query_string term: literal characters escaped, Sigma wildcards as Lucene wildcards."""
    if not pattern.parts:
        return '""'
    out = []
    for c in pattern.chars():
        if c is Wildcard.MULTI:
            out.append("*")
        elif c is Wildcard.SINGLE:
            out.append("?")
        elif c in LUCENE_RESERVED or c.isspace():
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def lucene_field(field: str) -> str:
    return LUCENE_FIELD_RESERVED.sub(r"\\\1", field)


def regexp_literal_char(c: str, case_insensitive: bool, reserved: frozenset[str] = LUCENE_REGEXP_RESERVED) -> str:
    """One literal character in Lucene RegExp syntax, optionally as a case-insensitive class."""
    if case_insensitive:
        variants = _case_variants(c)
        if len(variants) > 1:
            return "[" + "".join(variants) + "]"
    if c in reserved:
        return "\\" + c
    return c


def regexp_from_pattern(pattern: Pattern, case_insensitive: bool, delimiter_escape: bool = True) -> str:
    """Lucene RegExp (anchored, as Lucene matches whole values) equivalent to a Sigma pattern."""
    reserved = LUCENE_REGEXP_RESERVED if delimiter_escape else LUCENE_REGEXP_RESERVED - {"/"}
    out = []
    for c in pattern.chars():
        if c is Wildcard.MULTI:
            out.append(".*")
        elif c is Wildcard.SINGLE:
            out.append(".")
        else:
            out.append(regexp_literal_char(c, case_insensitive, reserved))
    return "".join(out)


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
