"""`\\s` in a Sigma regular expression is PCRE's (and Python's) whitespace: space, \\t, \\n, \\r, \\f and \\v.
Lucene's own `\\s` is only [ \\t\\n\\r], so the backends spell the class out; checked on OpenSearch."""

from __future__ import annotations

import json

import pytest
from opensearchpy import OpenSearch, helpers
from sigma.collection import SigmaCollection
from sigma.processing.pipeline import ProcessingPipeline

from sigma_es_backend.backends import backends
from sigma_es_backend.backends.common import query_string_query
from tests.conftest import inline_rule

EVENTS = {"space": "a b", "tab": "a\tb", "newline": "a\nb", "cr": "a\rb", "formfeed": "a\fb", "vt": "a\x0bb",
          "none": "ab", "letter": "axb", "nbsp": "a\u00a0b"}


def rule(regexp: str) -> str:
    return inline_rule({"CommandLine|re": regexp}, title="Whitespace")


@pytest.mark.parametrize(("regexp", "expected"), [
    (r"^a\sb$", {"space", "tab", "newline", "cr", "formfeed", "vt"}),
    (r"^a\Sb$", {"letter", "nbsp"}),
    (r"^a[\s]b$", {"space", "tab", "newline", "cr", "formfeed", "vt"}),
])
@pytest.mark.parametrize("target", ["es_lucene", "es_dsl"])
def test_whitespace_class(opensearch: OpenSearch, live_index_name, regexp: str, expected: set[str],
                          target: str) -> None:
    index = live_index_name("whitespace")
    opensearch.indices.create(index=index, body={"mappings": {"properties": {"CommandLine": {"type": "keyword"}}}})
    try:
        helpers.bulk(opensearch, ({"_index": index, "_id": k, "_source": {"CommandLine": v}}
                                  for k, v in EVENTS.items()), refresh=True)
        (query,) = backends[target](processing_pipeline=ProcessingPipeline()).convert(
            SigmaCollection.from_yaml(rule(regexp)))
        body = query_string_query(query) if target == "es_lucene" else json.loads(query)["query"]
        response = opensearch.search(index=index, body={"query": body, "size": 20, "_source": False})
        assert {hit["_id"] for hit in response["hits"]["hits"]} == expected
    finally:
        opensearch.indices.delete(index=index, ignore_unavailable=True)
