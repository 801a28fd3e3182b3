"""The WmiPrvSE seed rule on a real OpenSearch with production ECS mappings: exactly the right events."""

from __future__ import annotations

import json

import pytest

from tests.conftest import convert
from tests.live.conftest import lucene_ids, search_ids
from tests.seed_events import SEED_EVENTS, SEED_EXPECTED_MATCHES

pytestmark = pytest.mark.live


@pytest.fixture
def seed_index(ecs_index) -> str:
    return ecs_index({doc_id: doc for doc_id, (doc, _) in SEED_EVENTS.items()})


def test_seed_rule_lucene_hits_exactly(opensearch, seed_index, seed_rule_yaml) -> None:
    (query,) = convert(seed_rule_yaml, "es_lucene")
    assert lucene_ids(opensearch, seed_index, query) == SEED_EXPECTED_MATCHES


def test_seed_rule_lucene_dsl_query_format(opensearch, seed_index, seed_rule_yaml) -> None:
    (body,) = convert(seed_rule_yaml, "es_lucene", "dsl_query")
    assert search_ids(opensearch, seed_index, json.loads(body)) == SEED_EXPECTED_MATCHES


def test_seed_rule_dsl_hits_exactly(opensearch, seed_index, seed_rule_yaml) -> None:
    (body,) = convert(seed_rule_yaml, "es_dsl")
    assert search_ids(opensearch, seed_index, json.loads(body)) == SEED_EXPECTED_MATCHES


def test_seed_index_has_production_types(opensearch, seed_index) -> None:
    mapping = opensearch.indices.get_mapping(index=seed_index)[seed_index]["mappings"]["properties"]
    process = mapping["process"]["properties"]
    assert process["executable"]["type"] == "keyword"
    assert process["executable"]["fields"]["caseless"]["normalizer"] == "sigma_es_lowercase"
    assert process["command_line"]["type"] == "wildcard"
    assert mapping["winlog"]["properties"]["event_data"]["properties"]["LogonId"]["type"] == "keyword"
