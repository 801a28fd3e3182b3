"""Pipeline features declared in mapping files: value maps, unavailable fields, fields_under, unsupported
log sources, the most specific log source winning, pipeline variants and the unmapped-fields option."""

from __future__ import annotations

from pathlib import Path

import pytest
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError

from sigma_es_backend.backends import backends
from sigma_es_backend.pipelines.ecs import build_pipeline
from sigma_es_backend.pipelines.mapping_files import MappingError, load_mapping_files
from sigma_es_backend.pipelines.transformations import rule_warnings

MAPPING = """
field_sets:
  common: {EventID: event.code}
data_sources:
  - id: net
    logsource: {product: acme, category: network_connection}
    index: [logs-acme.net-*]
    filter: {event.category: network}
    field_sets: [common]
    fields:
      Initiated: {value_map: {field: network.direction, values: {"true": egress, "false": ingress}}}
      Raw: {unavailable: "the shipper splits it into several fields"}
    fields_under:
      acme.data.: [Alpha, Beta]
  - id: acme_any
    logsource: {product: acme}
    index: [logs-acme.*-*]
    fields: {Gamma: acme.gamma}
unsupported:
  - logsource: {product: acme, category: file_access}
    reason: "the acme agent records no file access events"
"""

ENDPOINT = """
pipeline: acme_endpoint
data_sources:
  - id: net_endpoint
    logsource: {product: acme, category: network_connection}
    index: [logs-endpoint.events.network-*]
    filter: {event.category: network}
    fields: {Alpha: endpoint.alpha}
"""


@pytest.fixture
def mapping_set(tmp_path: Path):
    (tmp_path / "acme.yml").write_text(MAPPING)
    (tmp_path / "endpoint.yml").write_text(ENDPOINT)
    return load_mapping_files(sorted(tmp_path.glob("*.yml")))


def rule(detection: str, logsource: str = "product: acme\n    category: network_connection") -> str:
    return f"""
title: Test
id: 0b6d3e5c-8d1d-4a57-9a39-0f2d8f7f3a11
logsource:
    {logsource}
detection:
    sel:
        {detection}
    condition: sel
"""


def lucene(pipeline, rule_yaml: str, **options) -> list[str]:
    return backends["es_lucene"](processing_pipeline=pipeline, **options).convert(SigmaCollection.from_yaml(rule_yaml))


def test_value_map_renames_values(mapping_set) -> None:
    query = lucene(build_pipeline(mapping_set), rule("Initiated: 'true'"))
    assert query == ["event.category:network AND network.direction:egress"]


def test_value_map_is_case_insensitive_and_maps_booleans(mapping_set) -> None:
    assert lucene(build_pipeline(mapping_set), rule("Initiated: 'FALSE'")) == lucene(
        build_pipeline(mapping_set), rule("Initiated: false"))


def test_value_map_rejects_unknown_values_and_patterns(mapping_set) -> None:
    with pytest.raises(SigmaError, match=r"rule 'Test' \(0b6d3e5c.*\): field 'Initiated' is rewritten to "
                                         r"network.direction by the integration: value 'maybe' is not one of"):
        lucene(build_pipeline(mapping_set), rule("Initiated: maybe"))
    with pytest.raises(SigmaError, match="can be mapped exactly, not"):
        lucene(build_pipeline(mapping_set), rule("Initiated|contains: ru"))


def test_fields_under_maps_names_below_the_prefix(mapping_set) -> None:
    assert lucene(build_pipeline(mapping_set), rule("Alpha|cased: x")) == [
        "event.category:network AND acme.data.Alpha:x"]


def test_unavailable_field_fails_with_its_reason_even_in_passthrough(mapping_set) -> None:
    for options in ({}, {"unmapped_fields": "passthrough"}):
        with pytest.raises(SigmaError, match=r"rule 'Test' .*field 'Raw' cannot be queried exactly in data source "
                                             r"'net' \(log source acme/network_connection\): the shipper splits it"):
            lucene(build_pipeline(mapping_set), rule("Raw: x"), **options)


def test_strict_by_default_names_rule_field_and_logsource(mapping_set) -> None:
    with pytest.raises(SigmaError, match=r"rule 'Test' \(0b6d3e5c-8d1d-4a57-9a39-0f2d8f7f3a11\): field 'Delta' has "
                                         r"no ECS mapping for data source 'net' \(log source acme/network_connection\)"):
        lucene(build_pipeline(mapping_set), rule("Delta: x"))


def test_passthrough_keeps_raw_names_and_warns_per_rule(mapping_set) -> None:
    pipeline = build_pipeline(mapping_set)
    backend = backends["es_lucene"](processing_pipeline=pipeline, unmapped_fields="passthrough")
    collection = SigmaCollection.from_yaml(rule("Delta|cased: x\n        Epsilon|cased: y\n        Alpha|cased: z"))
    assert backend.convert(collection) == [
        "event.category:network AND (Delta:x AND Epsilon:y AND acme.data.Alpha:z)"]
    assert rule_warnings(collection.rules[0]) == [
        "unmapped fields passed through with their Sigma names (data source 'net' "
        "(log source acme/network_connection)): Delta, Epsilon"]


def test_passthrough_warning_reaches_the_conversion_report(mapping_set, tmp_path: Path) -> None:
    from sigma_es_backend.conversion.converter import WARNINGS_STATE

    backend = backends["es_lucene"](processing_pipeline=build_pipeline(mapping_set), unmapped_fields="passthrough")
    backend.convert(SigmaCollection.from_yaml(rule("Delta|cased: x")))
    assert backend.last_processing_pipeline.state[WARNINGS_STATE] == [
        "unmapped fields passed through with their Sigma names (data source 'net' "
        "(log source acme/network_connection)): Delta"]


def test_unmapped_fields_option_value_is_checked(mapping_set) -> None:
    with pytest.raises(SigmaError, match="unmapped_fields='loose': expected one of strict, passthrough"):
        lucene(build_pipeline(mapping_set), rule("Delta: x"), unmapped_fields="loose")


def test_unsupported_logsource_fails_with_reason(mapping_set) -> None:
    with pytest.raises(SigmaError, match=r"rule 'Test' .*log source \{product: acme, category: file_access\} has no "
                                         r"Elastic integration counterpart: the acme agent records no file access"):
        lucene(build_pipeline(mapping_set), rule("A: x", "product: acme\n    category: file_access"))


def test_most_specific_logsource_wins(mapping_set) -> None:
    # acme/network_connection is claimed by `net` only, although `acme_any` (product only) also covers it.
    with pytest.raises(SigmaError, match=r"field 'Gamma' has no ECS mapping for data source 'net' "):
        lucene(build_pipeline(mapping_set), rule("Gamma: x"))
    assert lucene(build_pipeline(mapping_set), rule("Gamma|cased: x", "product: acme\n    service: other")) == [
        "acme.gamma:x"]


def test_variant_replaces_its_log_sources_and_keeps_the_others(mapping_set) -> None:
    endpoint = build_pipeline(mapping_set, variant="acme_endpoint")
    assert lucene(endpoint, rule("Alpha|cased: x")) == ["event.category:network AND endpoint.alpha:x"]
    assert lucene(endpoint, rule("Gamma|cased: x", "product: acme\n    service: other")) == ["acme.gamma:x"]


def test_variant_duplicate_logsource_is_rejected_within_a_variant(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(ENDPOINT)
    (tmp_path / "b.yml").write_text(ENDPOINT.replace("net_endpoint", "other"))
    with pytest.raises(MappingError, match=r"b.yml:5: logsource already mapped at .*a.yml:4"):
        load_mapping_files([tmp_path / "a.yml", tmp_path / "b.yml"])


def test_schema_errors_for_new_keys(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "data_sources:\n"
        "  - id: x\n"
        "    logsource: {product: p}\n"
        "    index: [i]\n"
        "    fields_under: {noprefixdot: [A]}\n"
        "    fields:\n"
        "      B: {value_map: {field: f}}\n"
        "unsupported:\n"
        "  - logsource: {product: q}\n"
    )
    with pytest.raises(MappingError) as caught:
        load_mapping_files([bad])
    message = str(caught.value)
    assert f"{bad}:5: fields_under prefix 'noprefixdot' must end with '.'" in message
    assert f"{bad}:7: value_map lacks required key 'values'" in message
    assert f"{bad}:9: unsupported log source lacks required key 'reason'" in message


def test_registry_lists_the_endpoint_variant() -> None:
    from sigma_es_backend.pipelines import pipelines

    assert {"ecs", "ecs_endpoint"} <= set(pipelines)


ENDPOINT_RULE = """
title: Defend
logsource:
    product: windows
    category: process_creation
detection:
    sel:
        ParentImage|endswith: '\\\\WmiPrvSe.exe'
        IntegrityLevel: System
    condition: sel
"""


def test_endpoint_variant_queries_defend_events_with_its_caseless_fields() -> None:
    from sigma_es_backend.pipelines import ecs_endpoint_pipeline

    backend = backends["es_lucene"](processing_pipeline=ecs_endpoint_pipeline())
    assert backend.convert(SigmaCollection.from_yaml(ENDPOINT_RULE)) == [
        "(event.category:process AND event.type:start AND host.os.type:windows) AND "
        "(process.parent.executable.caseless:*\\\\wmiprvse.exe AND process.Ext.token.integrity_level_name:system)"]
    esql = backends["es_esql"](processing_pipeline=ecs_endpoint_pipeline()).convert(SigmaCollection.from_yaml(ENDPOINT_RULE))
    assert esql[0].startswith("FROM logs-endpoint.events.process-* ")


def test_endpoint_variant_keeps_the_ecs_data_sources_defend_does_not_replace() -> None:
    from sigma_es_backend.pipelines import ecs_endpoint_pipeline

    security = rule("EventID: 4624", "product: windows\n    service: security")
    assert lucene(ecs_endpoint_pipeline(), security) == ["winlog.channel:Security AND event.code:4624"]


SECURITY_RULE = """
title: Privileges
logsource:
    product: windows
    service: security
detection:
    sel:
        EventID: 4673
        PrivilegeList{modifier}: SeLoadDriverPrivilege
    condition: sel
"""


def test_token_list_keeps_contains_on_the_split_privilege_list() -> None:
    from sigma_es_backend.pipelines import ecs_pipeline

    query = backends["es_lucene"](processing_pipeline=ecs_pipeline()).convert(
        SigmaCollection.from_yaml(SECURITY_RULE.format(modifier="|contains")))
    assert query == ["winlog.channel:Security AND (event.code:4673 AND winlog.event_data.PrivilegeList:"
                     "/.*[Ss][Ee][Ll][Oo][Aa][Dd][Dd][Rr][Ii][Vv][Ee][Rr][Pp][Rr][Ii][Vv][Ii][Ll][Ee][Gg][Ee].*/)"]


def test_token_list_refuses_a_match_on_the_whole_list() -> None:
    from sigma_es_backend.pipelines import ecs_pipeline

    # The integration stores 4673's "SeA SeB" as [SeA, SeB]: equality with one token would over-match.
    with pytest.raises(SigmaError, match=r"rule 'Privileges': field 'PrivilegeList' is a whitespace-separated list "
                                         r"that the integration splits .* only `contains`"):
        backends["es_lucene"](processing_pipeline=ecs_pipeline()).convert(
            SigmaCollection.from_yaml(SECURITY_RULE.format(modifier="")))
