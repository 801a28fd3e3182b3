"""Every feature case on a real OpenSearch with production ECS mappings: exactly the expected documents.

All cases' documents go into one index (tagged with their case id); each generated query is run
restricted to its case's documents, for es_lucene (query_string as written, and the dsl_query body, which
alone carries a field reference: a script filter beside the query_string),
es_dsl (search body and bare query) and es_kql (parsed with Kibana's grammar and translated to Query DSL
as Kibana's detection engine and a Discover data view do: tests/live/kql_harness.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from opensearchpy import OpenSearch, helpers

from sigma_es_backend.backends.common import query_string_query
from tests.feature_cases import CASES, FeatureCase, convert_case
from tests.live.kql_harness import MODES, kibana_dsl

pytestmark = pytest.mark.live

LIVE_BACKENDS = ("es_lucene", "es_dsl", "es_kql")


@pytest.fixture(scope="module")
def features_index(opensearch: OpenSearch, ecs_index_template_body: dict[str, Any], live_index_name) -> Any:
    name = live_index_name("features")
    opensearch.indices.create(index=name, body=ecs_index_template_body)
    actions = [{"_index": name, "_id": f"{case.id}/{doc_id}", "_source": doc}
               for case in CASES for doc_id, doc in case.documents().items()]
    helpers.bulk(opensearch, actions, refresh=True)
    yield name
    opensearch.indices.delete(index=name, ignore_unavailable=True)


def case_hits(client: OpenSearch, index: str, case: FeatureCase, query: dict[str, Any]) -> set[str]:
    body = {"query": {"bool": {"filter": [query, {"term": {"test_case": case.id}}]}},
            "size": 1000, "_source": False}
    response = client.search(index=index, body=body)
    return {hit["_id"].split("/", 1)[1] for hit in response["hits"]["hits"]}


def live_queries(client: OpenSearch, index: str, case: FeatureCase, target: str) -> dict[str, dict[str, Any]]:
    """Every output format of the target as a query object, keyed by format (Kibana translation for KQL)."""
    if target == "es_kql":
        query = convert_case(case, target)
        return {mode: kibana_dsl(client, index, query, mode) for mode in MODES}
    if target == "es_lucene":
        queries = {"dsl_query": json.loads(convert_case(case, target, "dsl_query"))["query"]}
        if target not in case.default_format_raises:
            queries["default"] = query_string_query(convert_case(case, target))
        return queries
    return {"default": json.loads(convert_case(case, target))["query"],
            "query": json.loads(convert_case(case, target, "query"))}


@pytest.mark.parametrize(("case", "target"), [(case, target) for case in CASES for target in LIVE_BACKENDS
                                               if target in case.backends],
                         ids=lambda v: v.id if isinstance(v, FeatureCase) else v)
def test_feature_case_live(opensearch: OpenSearch, features_index: str, case: FeatureCase, target: str) -> None:
    if target in case.raises:
        with pytest.raises(Exception, match=case.raises[target]):
            convert_case(case, target)
        return
    if target in case.default_format_raises:
        with pytest.raises(Exception, match=case.default_format_raises[target]):
            convert_case(case, target)
    for output_format, query in live_queries(opensearch, features_index, case, target).items():
        assert case_hits(opensearch, features_index, case, query) == set(case.expected), output_format
