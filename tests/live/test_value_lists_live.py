"""A rule with 1,100 values runs on OpenSearch with the default limits and finds exactly what one clause per
value would find (the values compacted into regexp alternations, backends/compaction.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opensearchpy import OpenSearch, helpers
from sigma.collection import SigmaCollection
from sigma.processing.pipeline import ProcessingPipeline

from sigma_es_backend.backends import backends, compaction
from sigma_es_backend.backends.common import query_string_query
from tests.conftest import inline_rule

NUMBERS = [f"{i:04d}-{i * 37 % 10000:04d}" for i in range(1100)]
SPECIAL = ["ÄrGer", "a*b", "q?z", "C:\\Temp\\", "x/y"]
RULE = inline_rule({"CommandLine|contains": NUMBERS + SPECIAL}, title="Huge list")
EVENTS = {
    "first": "run 0000-0000 now",
    "last": "x1099-0663x",
    "middle": "0550-0350",
    "near-miss": "0550-0351",          # 0550's partner is 0350
    "umlaut-case": "ärger",            # ÄrGer: every case form, ASCII and not
    "umlaut-miss": "arger",
    "inner-star": "A-then-B",          # a*b
    "inner-question": "QxZ",           # q?z
    "question-miss": "qz",
    "backslashes": "c:\\temp\\file",   # C:\Temp\ case-insensitively
    "slash": "X/Y",
    "nothing": "hello",
}
EXPECTED = {"first", "last", "middle", "umlaut-case", "inner-star", "inner-question", "backslashes", "slash"}


@pytest.fixture(scope="module")
def index(opensearch: OpenSearch, live_index_name) -> Iterator[str]:
    name = live_index_name("values")
    opensearch.indices.create(index=name, body={"mappings": {"properties": {"CommandLine": {"type": "keyword"}}}})
    helpers.bulk(opensearch, ({"_index": name, "_id": k, "_source": {"CommandLine": v}} for k, v in EVENTS.items()),
                 refresh=True)
    yield name
    opensearch.indices.delete(index=name, ignore_unavailable=True)


def hits(client: OpenSearch, index: str, query: dict) -> set[str]:
    response = client.search(index=index, body={"query": query, "size": 100, "_source": False})
    return {hit["_id"] for hit in response["hits"]["hits"]}


def convert(target: str) -> str:
    backend = backends[target](processing_pipeline=ProcessingPipeline(), engine="opensearch")
    (query,) = backend.convert(SigmaCollection.from_yaml(RULE))
    return query


def test_dsl_finds_exactly_the_listed_values(opensearch: OpenSearch, index: str) -> None:
    query = json.loads(convert("es_dsl"))["query"]
    assert compaction.clause_count(query) < len(NUMBERS)  # compacted
    assert hits(opensearch, index, query) == EXPECTED


def test_lucene_finds_exactly_the_listed_values(opensearch: OpenSearch, index: str) -> None:
    query = convert("es_lucene")
    assert compaction.lucene_clause_count(query) < len(NUMBERS)
    assert len(query) <= compaction.MAX_QUERY_STRING_LENGTH
    assert hits(opensearch, index, query_string_query(query)) == EXPECTED
