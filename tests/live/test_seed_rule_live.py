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
    assert process["command_line"]["type"] == "keyword"  # ECS wildcard → keyword for OpenSearch
    assert mapping["winlog"]["properties"]["event_data"]["properties"]["LogonId"]["type"] == "keyword"


COMMAND_LINES = {
    "enc_lower": "powershell.exe -nop -enc SQBFAFgA",
    "enc_upper": "POWERSHELL.EXE -NOP -ENC SQBFAFgA",
    "enc_no_spaces": "powershell.exe -encSQB",
    "other": "powershell.exe -File backup.ps1",
}
ENCODED_RULE = """
title: Encoded
status: test
logsource: {category: process_creation, product: windows}
detection:
    sel:
        CommandLine|contains: ' -enc '
    condition: sel
"""


def test_dsl_contains_on_wildcard_field_is_case_insensitive(opensearch, ecs_index) -> None:
    from tests.seed_events import process_start

    docs = {}
    for doc_id, command_line in COMMAND_LINES.items():
        doc = process_start(doc_id)
        doc["process"]["command_line"] = command_line
        docs[doc_id] = doc
    index = ecs_index(docs)
    (body,) = convert(ENCODED_RULE, "es_dsl")
    assert search_ids(opensearch, index, json.loads(body)) == {"enc_lower", "enc_upper"}


def test_lucene_for_opensearch_matches_the_templates_keyword_command_line(opensearch, ecs_index) -> None:
    # The OpenSearch template maps ECS wildcard fields as keyword: es_lucene with engine=opensearch is exact.
    from sigma.collection import SigmaCollection

    from sigma_es_backend.backends.lucene import LuceneBackend
    from sigma_es_backend.pipelines import ecs_pipeline
    from tests.seed_events import process_start

    docs = {}
    for doc_id, command_line in COMMAND_LINES.items():
        doc = process_start(doc_id)
        doc["process"]["command_line"] = command_line
        docs[doc_id] = doc
    index = ecs_index(docs)
    (query,) = LuceneBackend(ecs_pipeline(), engine="opensearch").convert(SigmaCollection.from_yaml(ENCODED_RULE))
    assert lucene_ids(opensearch, index, query) == {"enc_lower", "enc_upper"}
