"""Long value lists as a few regexp clauses, exactly, when a rule would otherwise exceed the engine's limits.

OpenSearch (and Elasticsearch 7) refuse a query with more than `indices.query.bool.max_clause_count` (1024)
leaf queries, and OpenSearch refuses a query_string longer than `search.query.max_query_string_length`
(32000 characters). A rule matching one field against a thousand values (IOC lists) exceeds both. The values
of one field then become alternations `.*(v1|v2|…).*`, each value written as the exact regexp the backend
would write for it alone, in chunks that stay within `index.max_regex_length` (1000 characters) and within
Lucene's determinization limit (backends/automaton.py). Small rules keep one clause per value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sigma_es_backend.backends import automaton
from sigma_es_backend.backends.pattern import Pattern, Wildcard

# Defaults of OpenSearch 2.19 (SearchService, IndexSettings); the first two are dynamic cluster settings.
MAX_CLAUSE_COUNT = 1024  # indices.query.bool.max_clause_count: leaf queries in a whole query
MAX_QUERY_STRING_LENGTH = 32000  # search.query.max_query_string_length
MAX_REGEX_LENGTH = 1000  # index.max_regex_length (index setting): characters of one regexp


@dataclass(frozen=True)
class Alternative:
    """One value as an alternation member: its regexp without the leading/trailing `*` it shares."""

    regexp: str
    lead: bool  # the value starts with `*`
    trail: bool  # the value ends with `*`
    # (text, case-insensitive) of a member that is plain ASCII text (no wildcard inside), the text folded to
    # lowercase when its case forms are classes: chunks of these are bounded without a replay
    literal: tuple[str, bool] | None = None


def alternative(pattern: Pattern, regexp_of: Callable[[Pattern], str], case_insensitive: bool) -> Alternative | None:
    """`pattern` as an Alternative (regexp_of renders the inner pattern, with every case form as a class when
    case_insensitive); None for values that match everything or nothing more than `*`."""
    parts = pattern.parts
    lead = bool(parts) and parts[0] is Wildcard.MULTI
    trail = len(parts) > 1 and parts[-1] is Wildcard.MULTI
    inner = parts[1 if lead else 0: len(parts) - 1 if trail else len(parts)]
    if not inner or all(p is Wildcard.MULTI for p in inner):
        return None
    literal = None
    if len(inner) == 1 and isinstance(inner[0], str) and inner[0].isascii():
        literal = (inner[0].lower() if case_insensitive else inner[0], case_insensitive)
    return Alternative(regexp_of(Pattern(tuple(inner), pattern.cased)), lead, trail, literal)


def chunk_regexps(alternatives: Sequence[Alternative | None],
                  max_length: int = MAX_REGEX_LENGTH) -> tuple[list[str], list[int]]:
    """(regexps covering alternatives in chunks, indices of the alternatives left for one clause each).

    A value stays alone when its shape (leading / trailing `*`) has no partner, when it is too long for a
    chunk, or when even alone in a chunk Lucene could not determinize it.
    """
    shapes: dict[tuple[bool, bool], list[int]] = {}
    leftovers: list[int] = []
    for index, alt in enumerate(alternatives):
        if alt is None:
            leftovers.append(index)
        else:
            shapes.setdefault((alt.lead, alt.trail), []).append(index)
    regexps: list[str] = []
    for (lead, trail), indices in shapes.items():
        if len(indices) < 2:
            leftovers.extend(indices)
            continue
        around = (2 if lead else 0) + (2 if trail else 0) + 2  # `.*`, `.*`, `(` `)`
        chunk: list[int] = []
        length = around
        for index in indices:
            size = len(alternatives[index].regexp)  # type: ignore[union-attr]
            if around + size > max_length:
                leftovers.append(index)
                continue
            separator = 1 if chunk else 0  # `|`
            if length + separator + size > max_length:
                _close(chunk, alternatives, lead, trail, regexps, leftovers)
                chunk, length, separator = [], around, 0
            chunk.append(index)
            length += separator + size
        _close(chunk, alternatives, lead, trail, regexps, leftovers)
    return regexps, sorted(leftovers)


def _close(chunk: list[int], alternatives: Sequence[Alternative | None], lead: bool, trail: bool,
           regexps: list[str], leftovers: list[int]) -> None:
    """Write one chunk's regexp, halving the chunk while Lucene could not determinize it."""
    if not chunk:
        return
    if len(chunk) == 1:
        leftovers.append(chunk[0])
        return
    members = "|".join(alternatives[i].regexp for i in chunk)  # type: ignore[union-attr]
    regexp = (".*" if lead else "") + "(" + members + ")" + (".*" if trail else "")
    literals = [alternatives[i].literal for i in chunk]  # type: ignore[union-attr]
    if all(literals) and len({ci for _, ci in literals}) == 1:  # type: ignore[misc]
        fits = automaton.aho_corasick_bound([text for text, _ in literals],  # type: ignore[misc]
                                            below=automaton.EFFORT_CAP) < automaton.EFFORT_CAP
    else:
        fits = False
    try:
        fits = fits or automaton.regexp_complexity(regexp).fits()
    except automaton.RegexpSyntaxError:
        fits = False
    if fits:
        regexps.append(regexp)
        return
    half = len(chunk) // 2
    _close(chunk[:half], alternatives, lead, trail, regexps, leftovers)
    _close(chunk[half:], alternatives, lead, trail, regexps, leftovers)


def clause_count(query: dict[str, Any]) -> int:
    """Leaf queries of a Query DSL query, as Lucene's IndexSearcher counts them against max_clause_count."""
    if len(query) == 1 and "bool" in query:
        return sum(clause_count(q) for key in ("must", "filter", "should", "must_not")
                   for q in query["bool"].get(key, []))
    return 1


def lucene_clauses_exceed(query: str, limit: int) -> bool:
    """lucene_clause_count(query) > limit. Its leaf queries are some of the query's colons, so a query with at
    most `limit` colons (nearly every rule) is within the limit without the character scan."""
    return query.count(":") > limit and lucene_clause_count(query) > limit


# The characters that matter to lucene_clause_count outside regexps and phrases, in a regexp, in a phrase.
_OUTSIDE = re.compile(r'[\\"/:]')
_IN_REGEXP = re.compile(r"[\\/]")
_IN_PHRASE = re.compile(r'[\\"]')


def lucene_clause_count(query: str) -> int:
    """Leaf queries of a query_string as es_lucene writes it: one `field:value` (or `*:*`) per leaf, so the
    unescaped colons outside regexps and phrases. The scan jumps from one character that matters to the
    next (a value list compacted into regexps is hundreds of kilobytes of regexp)."""
    count = 0
    position = 0
    while (found := _OUTSIDE.search(query, position)) is not None:
        char = found.group()
        position = found.end()
        if char == "\\":
            position += 1  # the escaped character
        elif char == ":":
            count += 1
        else:  # a regexp or a phrase, up to its unescaped closing character
            inside = _IN_REGEXP if char == "/" else _IN_PHRASE
            while (found := inside.search(query, position)) is not None:
                position = found.end()
                if found.group() != "\\":
                    break
                position += 1
            else:
                return count  # open until the end
    return count
