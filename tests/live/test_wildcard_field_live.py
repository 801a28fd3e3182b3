"""OpenSearch's `wildcard` field type against a keyword field, for every placement of backslashes and wildcards.

Documents: every string of up to 4 characters over `a`, `A`, `\\`, `*`, `-` (781, and a few more) in a
`wildcard`-typed field `cl` and a keyword field `kw`. Sigma values: every string of 1 to 4 characters over
`a`, `\\`, `*`, `?` and of 1 to 3 over `-`, `é`, `\\`, `*`, `?` (Sigma's escapes included: `\\*` a literal
star, `\\\\` a backslash, a trailing `\\` a backslash), matched case-sensitively and case-insensitively.
Every es_dsl query must return, on both fields, exactly the documents Sigma's semantics select (a plain
Python reference); es_dsl reads `cl` as wildcard-typed.

Also shown: the OpenSearch defects es_dsl works around (a wildcard query with an escaped backslash before a
wildcard, a regexp with a bare backslash next to an anchor) and the one it cannot (query_string on a
wildcard field, which is why the bundled OpenSearch template maps ECS wildcard fields as keyword).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from opensearchpy import OpenSearch, helpers
from sigma.collection import SigmaCollection
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import SetStateTransformation
from sigma.types import SigmaString

from sigma_es_backend.backends import backends
from sigma_es_backend.backends.common import FIELD_CAPABILITIES_STATE, FieldCapabilities
from sigma_es_backend.backends.pattern import Pattern, Wildcard
from tests.live.conftest import lucene_ids, search_ids

pytestmark = pytest.mark.live

FIELDS = {"cl": FieldCapabilities("wildcard"), "kw": FieldCapabilities("keyword")}
PIPELINE = ProcessingPipeline(items=[ProcessingItem(
    identifier="wildcard_field_types", transformation=SetStateTransformation(FIELD_CAPABILITIES_STATE, FIELDS))])
DOCUMENTS = ["".join(p) for n in range(5) for p in itertools.product("aA\\*-", repeat=n)] + [
    "C:\\Users\\x\\AppData\\Roaming\\evil.exe", "roaming", "É\\", "é\\x", "\\É", "x\\é-"]
VALUES = ["".join(p) for n in range(1, 5) for p in itertools.product("a\\*?", repeat=n)] + [
    "".join(p) for n in range(1, 4) for p in itertools.product("-é\\*?", repeat=n)]


@pytest.fixture(scope="module")
def wildcard_index(opensearch: OpenSearch, live_index_name) -> Iterator[str]:
    name = live_index_name("wildcard-field")
    opensearch.indices.create(index=name, body={
        "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}},
        "mappings": {"properties": {"cl": {"type": "wildcard"}, "kw": {"type": "keyword"}}}})
    helpers.bulk(opensearch, ({"_index": name, "_id": str(i), "_source": {"cl": doc, "kw": doc}}
                              for i, doc in enumerate(DOCUMENTS)), refresh=True)
    yield name
    opensearch.indices.delete(index=name, ignore_unavailable=True)


def sigma_matches(value: str, cased: bool) -> set[str]:
    """Sigma's semantics, in Python: the parsed value's wildcards, every other character literal."""
    pattern = Pattern.from_sigma(SigmaString(value))
    regex = "".join(".*" if c is Wildcard.MULTI else "." if c is Wildcard.SINGLE else re.escape(c)
                    for c in pattern.chars())
    flags = re.DOTALL | (0 if cased else re.IGNORECASE)
    return {str(i) for i, doc in enumerate(DOCUMENTS) if re.fullmatch(regex, doc, flags)}


def rule(field: str, value: str, cased: bool) -> dict[str, Any]:
    return {"title": "placement", "status": "test", "logsource": {"category": "test"},
            "detection": {"sel": {f"{field}|cased" if cased else field: value}, "condition": "sel"}}


def test_every_backslash_and_wildcard_placement_matches_like_sigma(opensearch: OpenSearch,
                                                                   wildcard_index: str) -> None:
    cases = [(field, value, cased) for field in FIELDS for value in VALUES for cased in (False, True)]
    rules = SigmaCollection.from_dicts([rule(*case) for case in cases]).rules
    # engine=elasticsearch: es_dsl reads `cl` as wildcard-typed (with engine=opensearch it would read it as
    # the keyword the bundled OpenSearch template maps ECS wildcard fields to)
    backend = backends["es_dsl"](processing_pipeline=PIPELINE, engine="elasticsearch")
    queries = [json.loads(backend.convert_rule(r, "query")[0]) for r in rules]
    searches: list[dict[str, Any]] = []
    for query in queries:
        searches += [{"index": wildcard_index}, {"query": query, "size": 1000, "_source": False}]
    responses = opensearch.msearch(body=searches)["responses"]
    wrong = []
    for (field, value, cased), query, response in zip(cases, queries, responses, strict=True):
        hits = {hit["_id"] for hit in response["hits"]["hits"]} if "hits" in response else response
        if hits != sigma_matches(value, cased):
            wrong.append((field, value, cased, query))
    assert len(cases) == 2 * 2 * (340 + 155)
    assert wrong == []


def test_the_opensearch_defects_worked_around_are_real(opensearch: OpenSearch, wildcard_index: str) -> None:
    r"""If these start to pass, OpenSearch fixed its wildcard field and the workaround can go."""
    def ids(query: dict[str, Any]) -> set[str]:
        return search_ids(opensearch, wildcard_index, {"query": query})

    expected = sigma_matches("a\\\\*", cased=True)  # a, backslash, anything
    assert len(expected) > 1
    # A wildcard query with an escaped backslash before `*`: right on keyword, wrong on the wildcard field.
    assert ids({"wildcard": {"kw": {"value": "a\\\\*"}}}) == expected
    assert ids({"wildcard": {"cl": {"value": "a\\\\*"}}}) != expected
    # A regexp with a bare backslash next to an anchor: the same; the class [\\\\] (es_dsl's form) is exact.
    assert ids({"regexp": {"kw": {"value": "a\\\\.*"}}}) == expected
    assert ids({"regexp": {"cl": {"value": "a\\\\.*"}}}) != expected
    assert ids({"regexp": {"cl": {"value": "a[\\\\\\\\].*"}}}) == expected
    # query_string wildcard terms on the wildcard field are answered from its n-grams alone: a term longer than
    # one n-gram misses, a short one over-matches (checked on 2.19). es_lucene cannot query such a field: the
    # bundled OpenSearch template maps ECS wildcard fields as keyword.
    for term, value in (("*Roaming*", "*Roaming*"), ("*A", "*A")):
        assert lucene_ids(opensearch, wildcard_index, f"kw:{term}") == sigma_matches(value, cased=True)
        assert lucene_ids(opensearch, wildcard_index, f"cl:{term}") != sigma_matches(value, cased=True)
