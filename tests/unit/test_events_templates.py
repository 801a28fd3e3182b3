"""The bundled ECS index mappings match a fresh build from ../shared/ecs, and carry the integration additions."""

from __future__ import annotations

from pathlib import Path

from sigma_es_backend.events.templates import bundled_ecs_mappings, ecs_index_body, merged_ecs_mappings


def test_bundled_mappings_match_a_fresh_build(shared_dir: Path) -> None:
    # On failure: python scripts/build_index_template.py
    assert bundled_ecs_mappings() == merged_ecs_mappings(shared_dir / "ecs")


def test_index_body_from_bundle_equals_index_body_from_shared(shared_dir: Path) -> None:
    assert ecs_index_body() == ecs_index_body(shared_dir / "ecs")


def test_index_body_has_production_types_and_integration_additions() -> None:
    properties = ecs_index_body()["mappings"]["properties"]
    process = properties["process"]["properties"]
    # OpenSearch flavor: ECS wildcard fields become keyword (query_string misses on OpenSearch's wildcard type)
    assert process["command_line"]["type"] == "keyword"
    assert process["executable"]["fields"]["caseless"]["normalizer"] == "sigma_es_lowercase"
    assert properties["powershell"]["properties"]["file"]["properties"]["script_block_text"] == {"type": "text"}
    assert properties["winlog"]["properties"]["event_id"]["type"] == "keyword"
    elasticsearch = ecs_index_body(flavor="elasticsearch")["mappings"]["properties"]
    assert elasticsearch["data_stream"]["properties"]["dataset"]["type"] == "constant_keyword"
    assert elasticsearch["process"]["properties"]["command_line"]["type"] == "wildcard"
    assert properties["data_stream"]["properties"]["dataset"]["type"] == "keyword"
