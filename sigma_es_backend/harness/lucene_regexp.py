"""Lucene RegExp (as EQL `regex`, ES|QL `RLIKE`, DSL `regexp` read it) → an equivalent Python regex.

For the EQL evaluator of the harness and the tests. Lucene regexps match the whole value; `.` matches any character;
`^` and `$` are plain characters outside a class; `\\` escapes the next character (`\\d \\w \\s` and
their negations are classes). The optional operators (`# @ & < > ~ "`) must arrive escaped: the
backends never use them, so an unescaped one raises instead of being guessed at.
"""

from __future__ import annotations

import re

_OPERATORS = set('#@&<>~"')
_SHORTHANDS = set("dDwWsS")


def python_regex(lucene: str) -> str:
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(lucene):
        c = lucene[i]
        if c == "\\":
            if i + 1 >= len(lucene):
                raise ValueError(f"trailing backslash in {lucene!r}")
            nxt = lucene[i + 1]
            out.append("\\" + nxt if nxt in _SHORTHANDS else re.escape(nxt))
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            out.append(c if c in "]^-" or c.isalnum() else re.escape(c))
        elif c == "[":
            in_class = True
            out.append(c)
            if lucene.startswith("^", i + 1):
                out.append("^")
                i += 1
        elif c in "^$":
            out.append(re.escape(c))
        elif c in _OPERATORS:
            raise ValueError(f"unescaped Lucene operator {c!r} in {lucene!r}")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def lucene_fullmatch(lucene: str, value: str, ignore_case: bool = False) -> bool:
    # Lucene's classes and its case_insensitive flag are ASCII-only.
    flags = re.DOTALL | re.ASCII | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(python_regex(lucene), value, flags) is not None
