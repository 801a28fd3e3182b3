"""value_map: a Sigma field whose closed set of values the integration rewrites into another field."""

from __future__ import annotations

from pathlib import Path

import pytest
from sigma.collection import SigmaCollection

from sigma_es_backend.backends import backends
from sigma_es_backend.pipelines.ecs import build_pipeline
from sigma_es_backend.pipelines.mapping_files import MappingError, ValueMap, load_mapping_files

MAPPING = """\
data_sources:
  - id: conn
    logsource: {product: linux, category: network_connection}
    index: [logs-endpoint.events.network-*]
    filter: {event.category: network}
    fields:
      Initiated: {value_map: {field: network.direction, values: {"true": [egress, outbound], "false": ingress}}}
"""


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    path = tmp_path_factory.mktemp("vm") / "conn.yml"
    path.write_text(MAPPING)
    return build_pipeline(load_mapping_files([path]))


def _lucene(pipeline, detection: str) -> str:
    rule = ("title: t\nlogsource: {product: linux, category: network_connection}\n"
            f"detection:\n  sel: {detection}\n  condition: sel\n")
    return backends["es_lucene"](processing_pipeline=pipeline).convert(SigmaCollection.from_yaml(rule))[0]


def test_loader_reads_value_map(tmp_path: Path) -> None:
    path = tmp_path / "conn.yml"
    path.write_text(MAPPING)
    target = load_mapping_files([path]).data_sources[0].fields["Initiated"]
    assert target == ValueMap("network.direction", {"true": ("egress", "outbound"), "false": ("ingress",)})


@pytest.mark.parametrize("value", ["'true'", "true", "'TRUE'"])
def test_mapped_value_becomes_every_spelling_of_the_target(pipeline, value: str) -> None:
    assert _lucene(pipeline, f"{{Initiated: {value}}}") == \
        "event.category:network AND (network.direction:egress OR network.direction:outbound)"


def test_other_key(pipeline) -> None:
    assert _lucene(pipeline, "{Initiated: 'false'}") == "event.category:network AND network.direction:ingress"


def test_null_checks_the_target_field(pipeline) -> None:
    assert "network.direction" in _lucene(pipeline, "{Initiated: null}")


@pytest.mark.parametrize(("value", "message"), [
    ("'yes'", r"value 'yes' is not one of false, true"),
    ("'tr*'", r"only the values false, true can be mapped exactly, not tr\*"),
])
def test_unmappable_value_fails_the_rule(pipeline, value: str, message: str) -> None:
    with pytest.raises(Exception, match=rf"field 'Initiated' is rewritten to network.direction by the integration: {message}"):
        _lucene(pipeline, f"{{Initiated: {value}}}")


def test_schema_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(MAPPING.replace('values: {"true": [egress, outbound], "false": ingress}', "values: []"))
    with pytest.raises(MappingError, match=rf"{bad}:7: value_map values must map Sigma values to ECS values"):
        load_mapping_files([bad])
