"""Huge value lists (IOC rules): compacted into regexp alternations only when a rule would exceed the limits.

OpenSearch 2.19 defaults: at most 1024 leaf queries (indices.query.bool.max_clause_count), query strings of
at most 32000 characters (search.query.max_query_string_length), regexps of at most 1000 characters
(index.max_regex_length). The live test tests/live/test_value_lists_live.py runs such a rule on OpenSearch.
"""

from __future__ import annotations

import json
import random

import pytest
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.processing.pipeline import ProcessingPipeline

from sigma_es_backend.backends import compaction
from tests.conftest import convert, inline_rule

RAW = ProcessingPipeline()


def rule(values: list[str], modifier: str = "|contains") -> str:
    return inline_rule({f"CommandLine{modifier}": values}, title="Value list")


def numbers(count: int) -> list[str]:
    return [f"{i:04d}-{i * 37 % 10000:04d}" for i in range(count)]


def backend(target: str, **options: str) -> object:
    from sigma_es_backend.backends import backends
    return backends[target](processing_pipeline=RAW, **options)


def dsl_leaves(body: str) -> list[dict]:
    def leaves(query: dict) -> list[dict]:
        if "bool" in query:
            return [leaf for key in ("must", "filter", "should", "must_not") for q in query["bool"].get(key, [])
                    for leaf in leaves(q)]
        return [query]
    return leaves(json.loads(body)["query"])


def test_small_lists_keep_one_clause_per_value() -> None:
    (body,) = convert(rule(["Alpha", "beta"]), "es_dsl", pipeline=RAW)
    assert dsl_leaves(body) == [
        {"wildcard": {"CommandLine": {"value": "*Alpha*", "case_insensitive": True}}},
        {"wildcard": {"CommandLine": {"value": "*beta*", "case_insensitive": True}}},
    ]
    assert convert(rule(["Alpha", "beta"]), "es_lucene", pipeline=RAW) == [
        "CommandLine:/.*[Aa][Ll][Pp][Hh][Aa].*/ OR CommandLine:/.*[Bb][Ee][Tt][Aa].*/"]


def test_dsl_compacts_a_list_over_the_clause_limit() -> None:
    values = numbers(1100)
    (body,) = convert(rule(values), "es_dsl", pipeline=RAW)
    leaves = dsl_leaves(body)
    assert len(leaves) <= compaction.MAX_CLAUSE_COUNT
    regexps = [leaf["regexp"]["CommandLine"]["value"] for leaf in leaves]
    assert all(len(r) <= compaction.MAX_REGEX_LENGTH for r in regexps)
    assert all(r.startswith(".*(") and r.endswith(").*") for r in regexps)
    members = [m for r in regexps for m in r[3:-3].split("|")]
    assert sorted(members) == sorted(values)  # every value once, nothing else


def test_dsl_alternation_members_are_the_per_value_regexps() -> None:
    # case forms as classes (ASCII and not), wildcards inside a value, escapes: what match_pattern writes alone
    values = [*numbers(1100), "ÄrGer", "a*b", "q?z", "C:\\Temp\\"]
    (body,) = convert(rule(values), "es_dsl", pipeline=RAW)
    members = {m for leaf in dsl_leaves(body) for m in leaf["regexp"]["CommandLine"]["value"][3:-3].split("|")}
    assert {"[Ää][Rr][Gg][Ee][Rr]", "[Aa].*[Bb]", "[Qq].[Zz]", "[Cc]:\\\\[Tt][Ee][Mm][Pp]\\\\"} <= members


def test_values_of_other_shapes_are_grouped_apart() -> None:
    contains = "\n".join(f"            - '{v}'" for v in numbers(600))
    starts = "\n".join(f"            - '{v}'" for v in numbers(1200)[600:])
    yaml = f"""
title: Two shapes
status: test
logsource:
    category: test_category
    product: test_product
detection:
    sel_contains:
        CommandLine|contains:
{contains}
    sel_starts:
        CommandLine|startswith:
{starts}
    condition: 1 of sel_*
"""
    (body,) = convert(yaml, "es_dsl", pipeline=RAW)
    regexps = [leaf["regexp"]["CommandLine"]["value"] for leaf in dsl_leaves(body)]
    contains_chunks = [r for r in regexps if r.startswith(".*(")]  # `*v*` as .*(…).*
    prefix_chunks = [r for r in regexps if r.startswith("(")]  # `v*` as (…).*
    assert contains_chunks and prefix_chunks and len(contains_chunks) + len(prefix_chunks) == len(regexps)
    assert all(r.endswith(").*") for r in regexps)


def test_lucene_compacts_over_the_clause_limit() -> None:
    values = numbers(1100)
    (query,) = convert(rule(values), "es_lucene", pipeline=RAW)
    assert compaction.lucene_clause_count(query) <= compaction.MAX_CLAUSE_COUNT
    assert query.startswith("CommandLine:/.*(0000-0000|0001-0037|")
    assert len(query) < compaction.MAX_QUERY_STRING_LENGTH


def test_lucene_query_string_over_the_opensearch_limit_fails_naming_the_setting() -> None:
    values = [f"package-{i}@1.0.{i}" for i in range(1100)]  # letters: four characters per letter as classes
    converter = backend("es_lucene", engine="opensearch")
    from sigma.collection import SigmaCollection
    with pytest.raises(SigmaFeatureNotSupportedByBackendError,
                       match=r"search\.query\.max_query_string_length 32000 .*-O max_query_string_length=N"):
        converter.convert(SigmaCollection.from_yaml(rule(values)))
    raised = backend("es_lucene", engine="opensearch", max_query_string_length="200000")
    (query,) = raised.convert(SigmaCollection.from_yaml(rule(values)))
    assert 32000 < len(query) <= 200000


def test_too_many_leaves_even_compacted_fails_naming_the_setting() -> None:
    yaml = inline_rule([{f"Field{i}": f"v{i}"} for i in range(1100)], title="Many fields")
    from sigma.collection import SigmaCollection
    for target in ("es_dsl", "es_lucene"):
        with pytest.raises(SigmaFeatureNotSupportedByBackendError,
                           match=r"1100 leaf queries .*indices\.query\.bool\.max_clause_count 1024"):
            backend(target, engine="opensearch", max_query_string_length="100000").convert(
                SigmaCollection.from_yaml(yaml))


def test_clause_counts() -> None:
    assert compaction.lucene_clause_count('a:1 OR (b:/x:y/ AND NOT c:"p:q") OR (*:* AND NOT _exists_:d)') == 5
    assert compaction.clause_count({"bool": {"should": [{"term": {}}, {"bool": {"must_not": [{"exists": {}}]}}]}}) == 2


def scanned_clause_count(query: str) -> int:
    """The unescaped colons outside regexps and phrases, one character at a time (what the jumping scan of
    `lucene_clause_count` must count)."""
    count = 0
    escaped = in_regexp = in_phrase = False
    for char in query:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_phrase:
            in_phrase = char != '"'
        elif char == "/":
            in_regexp = not in_regexp
        elif in_regexp:
            continue
        elif char == '"':
            in_phrase = True
        elif char == ":":
            count += 1
    return count


def test_clause_count_is_the_character_scan() -> None:
    rnd = random.Random(3)
    for _ in range(30_000):
        query = "".join(rnd.choice(':/"\\a \n') for _ in range(rnd.randint(0, 24)))
        assert compaction.lucene_clause_count(query) == scanned_clause_count(query), repr(query)
    compacted = "a:/(" + "|".join(f"x{n}\\:y" for n in range(2000)) + ")/ OR b:1 OR c:\"p:q\""
    assert compaction.lucene_clause_count(compacted) == scanned_clause_count(compacted) == 3


@pytest.mark.parametrize("limit", range(8))
def test_clause_limit_check_counts_only_queries_with_enough_colons(limit: int) -> None:
    """The colons bound the leaf queries: the exact count decides only when they exceed the limit."""
    for query in ('a:1 OR (b:/x:y/ AND NOT c:"p:q") OR (*:* AND NOT _exists_:d)', r"a\:b:c", "a:1", "x"):
        assert compaction.lucene_clauses_exceed(query, limit) is (compaction.lucene_clause_count(query) > limit)


def test_a_lowered_clause_limit_is_enforced() -> None:
    yaml = inline_rule([{"A": "v:1"}, {"B": "v:2"}, {"C": "v:3"}], title="Three fields")
    from sigma.collection import SigmaCollection
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match=r"3 leaf queries .*max_clause_count 2 "):
        backend("es_lucene", engine="opensearch", max_clause_count="2").convert(SigmaCollection.from_yaml(yaml))
    (query,) = backend("es_lucene", engine="opensearch", max_clause_count="3").convert(SigmaCollection.from_yaml(yaml))
    assert compaction.lucene_clause_count(query) == 3 and query.count(":") == 6


def test_aho_corasick_bound_is_an_upper_bound() -> None:
    """The quick bound that spares the replay for chunks of plain texts never undercuts it (repetitive
    texts are the worst case)."""
    import random

    from sigma_es_backend.backends import automaton, escaping
    from sigma_es_backend.backends.pattern import Pattern
    rng = random.Random(3)
    for _ in range(120):
        alphabet = rng.choice(["ab", "aab", "0123456789abcdef", "a"])
        texts = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
                        for _ in range(rng.randint(2, 25))})
        bound = automaton.aho_corasick_bound(texts)
        for case_insensitive in (False, True):
            members = "|".join(escaping.regexp_from_pattern(Pattern((t,)), case_insensitive) for t in texts)
            for lead, trail in ((True, True), (False, True), (True, False)):
                regexp = (".*" if lead else "") + "(" + members + ")" + (".*" if trail else "")
                assert automaton.regexp_complexity.__wrapped__(regexp).effort <= bound
