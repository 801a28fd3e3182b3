"""Correlation rules: es_eql sequences evaluated with the `eql` package on timed events, es_esql text,
the errors of languages and features that cannot be exact. es_dsl runs live (tests/live)."""

from __future__ import annotations

from typing import Any

import pytest
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError

from sigma_es_backend.backends import backends
from sigma_es_backend.harness.eql_eval import eql_sequences
from tests.conftest import convert, ecs_pipeline

BASE_RULES = r"""
title: Whoami
name: whoami
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '\whoami.exe'
    condition: selection
---
title: Net
name: net
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '\net.exe'
    condition: selection
"""


def correlation(kind: str, condition: str | None, rules: str = "[whoami, net]", extra: str = "") -> str:
    cond = f"\n    condition: {condition}" if condition else ""
    return BASE_RULES + f"""---
title: Recon burst
name: recon_burst
correlation:
    type: {kind}
    rules: {rules}
    group-by: [ParentImage]
    timespan: 5m{cond}{extra}
"""


def process(image: str, parent: str | None, **more: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"event": {"category": "process", "type": "start", "code": "1"},
                           "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational"},
                           "process": {"executable": f"C:\\Windows\\System32\\{image}", **more}}
    if parent is not None:
        doc["process"]["parent"] = {"executable": parent}
    return doc


def eql(rule_yaml: str) -> str:
    """The correlation's query: the last output (referenced rules are not output, others are)."""
    return convert(rule_yaml, "es_eql")[-1]


def test_eql_temporal_ordered_is_a_sequence_by_group_with_maxspan() -> None:
    query = eql(correlation("temporal_ordered", None))
    assert query.startswith("sequence with maxspan=300s [any where ")
    assert "] by process.parent.executable [any where " in query
    events = [
        # p1: whoami then net exactly 300 s later (maxspan is inclusive) → one sequence
        ("p1-a", 0, process("whoami.exe", "p1")), ("p1-b", 300, process("net.exe", "p1")),
        # p2: 301 s apart → none
        ("p2-a", 0, process("whoami.exe", "p2")), ("p2-b", 301, process("net.exe", "p2")),
        # p3: wrong order → none
        ("p3-b", 0, process("net.exe", "p3")), ("p3-a", 10, process("whoami.exe", "p3")),
        # p4 / p5: the two halves in two groups → none
        ("p4-a", 0, process("whoami.exe", "p4")), ("p5-b", 5, process("net.exe", "p5")),
        # no parent: takes no part even though both happen
        ("np-a", 0, process("whoami.exe", None)), ("np-b", 5, process("net.exe", None)),
    ]
    assert eql_sequences(query, events) == [("p1-a", "p1-b")]


def test_eql_event_count_gte_n_is_a_sequence_of_n_stages() -> None:
    query = eql(correlation("event_count", "{gte: 3}", rules="[whoami]"))
    assert query.count("[any where ") == 3
    assert eql(correlation("event_count", "{gt: 2}", rules="[whoami]")) == query
    events = [
        ("x1", 0, process("whoami.exe", "x")), ("x2", 100, process("whoami.exe", "x")),
        ("x3", 300, process("whoami.exe", "x")),                        # exactly 3 within 300 s
        ("y1", 0, process("whoami.exe", "y")), ("y2", 10, process("whoami.exe", "y")),  # N-1
        ("z1", 0, process("whoami.exe", "z")), ("z2", 150, process("whoami.exe", "z")),
        ("z3", 301, process("whoami.exe", "z")),                        # third one just outside
        ("o1", 20, process("net.exe", "y")),                            # other rule: not counted
    ]
    assert eql_sequences(query, events) == [("x1", "x2", "x3")]


def test_eql_event_count_of_several_rules_counts_either() -> None:
    query = eql(correlation("event_count", "{gte: 2}"))
    events = [("a", 0, process("whoami.exe", "x")), ("b", 200, process("net.exe", "x"))]
    assert eql_sequences(query, events) == [("a", "b")]


def test_eql_event_count_gte_1_is_a_plain_query() -> None:
    query = eql(correlation("event_count", "{gte: 1}", rules="[whoami]"))
    assert query.startswith("any where ")
    assert eql_sequences(query, [("a", 0, process("whoami.exe", "x")), ("b", 0, process("whoami.exe", None))]) \
        == [("a",)]


def test_eql_aliases_join_each_stage_on_its_own_field() -> None:
    extra = "\n    aliases:\n        parent:\n            whoami: ParentImage\n            net: Image"
    rule = correlation("temporal_ordered", None, extra=extra).replace("group-by: [ParentImage]", "group-by: [parent]")
    query = eql(rule)
    assert "] by process.parent.executable [any where " in query and query.endswith("] by process.executable")
    events = [("a", 0, process("whoami.exe", "C:\\Windows\\System32\\net.exe")), ("b", 60, process("net.exe", "p"))]
    assert eql_sequences(query, events) == [("a", "b")]


@pytest.mark.parametrize(("kind", "condition", "message"), [
    ("event_count", "{lt: 3}", "EQL cannot count an upper bound"),
    ("event_count", "{eq: 3}", "EQL cannot count an upper bound"),
    ("event_count", "{gte: 33}", "longer than 32 stages"),
    ("value_count", "{gte: 3, field: CommandLine}", "value_count: EQL has no distinct counts"),
    ("temporal", None, "temporal: EQL has no distinct counts and its sequences are ordered"),
    ("temporal_ordered", "{gte: 1}", "temporal_ordered with a condition other than 'all referenced rules'"),
])
def test_eql_errors_name_rule_and_feature(kind: str, condition: str | None, message: str) -> None:
    with pytest.raises(SigmaError, match=f"es_eql: correlation rule 'recon_burst': .*{message}"):
        eql(correlation(kind, condition))


def esql(rule_yaml: str) -> str:
    return convert(rule_yaml, "es_esql")[-1]


def esql_where() -> str:
    """The window, the whoami rule's own ES|QL condition (as es_esql converts it alone), the group-by guard."""
    whoami = BASE_RULES.split("---")[0]
    (alone,) = convert(whoami, "es_esql")
    return (f"@timestamp >= NOW() - 300 seconds AND (({alone.split(' | WHERE ', 1)[1]})) "
            "AND process.parent.executable IS NOT NULL")


def test_esql_event_count_is_stats_count_in_one_window() -> None:
    query = esql(correlation("event_count", "{gte: 3}", rules="[whoami]"))
    assert query.endswith(f"| WHERE {esql_where()} | STATS event_count = COUNT(*) BY process.parent.executable "
                          "| WHERE event_count >= 3")
    assert "BUCKET" not in query


def test_esql_value_count_counts_distinct_rows_exactly() -> None:
    query = esql(correlation("value_count", "{lt: 4, field: CommandLine}", rules="[whoami]"))
    assert query.endswith(f"| WHERE {esql_where()} | WHERE process.command_line IS NOT NULL "
                          "| STATS BY process.parent.executable, process.command_line "
                          "| STATS value_count = COUNT(*) BY process.parent.executable "
                          "| WHERE value_count > 0 AND value_count < 4")
    assert "COUNT_DISTINCT" not in query


def test_esql_temporal_sums_one_flag_per_rule() -> None:
    query = esql(correlation("temporal", None))
    assert "| EVAL rule0 = CASE(event.category" in query
    assert "| STATS rule0 = MAX(rule0), rule1 = MAX(rule1) BY process.parent.executable | WHERE (rule0 + rule1) >= 2" \
        in query


def test_esql_and_dsl_refuse_temporal_ordered() -> None:
    for target in ("es_esql", "es_dsl"):
        with pytest.raises(SigmaError, match=f"{target}: correlation rule 'recon_burst': temporal_ordered"):
            convert(correlation("temporal_ordered", None), target)


@pytest.mark.parametrize("target", ["es_lucene", "es_kql"])
def test_languages_without_aggregations_refuse_correlations(target: str) -> None:
    with pytest.raises(SigmaError, match=f"{target}: correlation rule 'recon_burst': correlation rules need"):
        convert(correlation("event_count", "{gte: 3}"), target)


@pytest.mark.parametrize(("target", "output"), [("es_eql", "eqlapi"), ("es_dsl", "query")])
def test_formats_without_a_correlation_writer_fail_naming_the_available_ones(target: str, output: str) -> None:
    with pytest.raises(SigmaError, match=f"output format '{output}' is not available for correlation rules "
                                         r"\(available: default"):
        convert(correlation("event_count", "{gte: 3}"), target, output)


def test_failed_referenced_rule_fails_the_correlation_not_the_batch() -> None:
    broken = BASE_RULES.replace("selection:\n        Image|endswith: '\\net.exe'\n    condition: selection",
                                "keywords: [net.exe]\n    condition: keywords")  # keywords: not supported
    assert broken != BASE_RULES
    backend = backends["es_eql"](processing_pipeline=ecs_pipeline(), collect_errors=True)
    rules = SigmaCollection.from_yaml(broken + correlation("temporal_ordered", None)[len(BASE_RULES):])
    assert backend.convert(rules) == []  # whoami is not output (generate: false); net and the correlation fail
    messages = [str(error) for _, error in backend.errors]
    assert len(messages) == 2 and "referenced rule 'net' was not converted" in messages[1]


def test_readme_correlation_table_is_the_registry() -> None:
    from sigma_es_backend.backends.features import CORRELATION_FEATURES, render_table
    from tests.conftest import REPO

    assert render_table(CORRELATION_FEATURES) in (REPO / "README.md").read_text()


def test_dsl_refuses_to_aggregate_a_text_field() -> None:
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import SetStateTransformation

    from sigma_es_backend.backends.common import FIELD_CAPABILITIES_STATE, FieldCapabilities
    from sigma_es_backend.pipelines import default_mapping_set

    caps = {**default_mapping_set().field_capabilities, "process.parent.executable": FieldCapabilities(type="text")}
    pipeline = ecs_pipeline() + ProcessingPipeline(items=[ProcessingItem(
        identifier="text_parent", transformation=SetStateTransformation(FIELD_CAPABILITIES_STATE, caps))])
    with pytest.raises(SigmaError, match="es_dsl: correlation rule 'recon_burst': field "
                                         "'process.parent.executable' is an analyzed text field"):
        convert(correlation("event_count", "{gte: 2}", rules="[whoami]"), "es_dsl", pipeline=pipeline)


def test_batch_converts_correlations_and_a_missing_reference_fails_only_its_rule(tmp_path) -> None:
    from sigma_es_backend.conversion.converter import Converter
    from sigma_es_backend.conversion.settings import ConversionSettings

    good, missing = tmp_path / "good.yml", tmp_path / "missing.yml"
    good.write_text(correlation("temporal_ordered", None))
    missing.write_text(correlation("temporal_ordered", None, rules="[whoami, nosuchrule]"))
    converter = Converter(ConversionSettings.create("es_eql"))
    results = {(r.path, r.title): r for f in (good, missing) for r in converter.convert_file(f)}
    assert results[(str(good), "Recon burst")].queries[0].startswith("sequence with maxspan=300s")
    assert results[(str(good), "Whoami")].queries == []  # referenced (generate: false): not output
    assert results[(str(missing), "Recon burst")].errors == [
        f"correlation rule 'recon_burst': Rule 'nosuchrule' not found in rule collection in {missing}"]
    assert results[(str(missing), "Net")].queries[0].startswith("any where ")  # not referenced: converted


@pytest.mark.parametrize(("group_by", "reason"), [
    ("User", "field 'User' cannot be grouped or counted exactly in data source 'windows_process_creation'"),
    ("Hashes", "field 'Hashes' cannot be grouped or counted exactly"),
    ("NoSuchField", "field 'NoSuchField' has no ECS mapping for data source 'windows_process_creation'"),
])
@pytest.mark.parametrize("target", ["es_eql", "es_dsl", "es_esql"])
def test_group_by_on_a_field_the_integration_reshapes_or_lacks_fails(target: str, group_by: str,
                                                                       reason: str) -> None:
    """Sysmon's User lands split in user.domain/user.name, Hashes per algorithm: grouping by the Sigma name
    would group on a field that does not exist and never fire."""
    rule = correlation("event_count", "{gte: 2}").replace("group-by: [ParentImage]", f"group-by: [{group_by}]")
    with pytest.raises(SigmaError, match=f"rule 'Recon burst': {reason}"):
        convert(rule, target)


def test_group_by_across_log_sources_fails_rather_than_keep_sigma_names() -> None:
    rule = correlation("event_count", "{gte: 2}").replace(
        "name: net\nlogsource: {product: windows, category: process_creation}",
        "name: net\nlogsource: {product: windows, category: network_connection}")
    assert "category: network_connection" in rule
    # Each data source's items apply (pySigma matches a correlation by any referenced rule's log source):
    # the network data source refuses the field the process one mapped; in passthrough mode the data source
    # check refuses the correlation.
    with pytest.raises(SigmaError, match="rule 'Recon burst': field 'process.parent.executable' has no ECS "
                                         "mapping for data source 'windows_network_connection'"):
        convert(rule, "es_eql")
    passthrough = backends["es_eql"](processing_pipeline=ecs_pipeline(), unmapped_fields="passthrough")
    with pytest.raises(SigmaError, match="rule 'Recon burst': fields process.parent.executable cannot be mapped: the referenced "
                                         "rules do not share one log source"):
        passthrough.convert(SigmaCollection.from_yaml(rule))


def test_esql_value_sum_and_avg_compare_in_integer_arithmetic() -> None:
    from tests.unit.test_correlation_kibana import rule

    stats = ("| WHERE process.pid IS NOT NULL | STATS value_sum = SUM(process.pid), value_n = COUNT(process.pid) "
             "BY process.parent.executable")
    assert esql(rule("value_sum", "{gte: 6, field: ProcessId}", rules="[whoami]")).endswith(
        f"{stats} | WHERE value_sum * 1 >= 6")
    assert esql(rule("value_avg", "{lt: 2, field: ProcessId}", rules="[whoami]")).endswith(
        f"{stats} | WHERE value_sum * 1 < 2 * value_n")
    assert "AVG(" not in esql(rule("value_avg", "{lt: 2, field: ProcessId}", rules="[whoami]"))


@pytest.mark.skipif(int(__import__("importlib.metadata").metadata.version("pysigma").split(".")[0]) < 2,
                    reason="pySigma 1.5 reads correlation condition numbers with int()")
def test_decimal_threshold_is_an_exact_fraction() -> None:
    from tests.unit.test_correlation_kibana import rule

    assert esql(rule("value_avg", "{gte: 2.5, field: ProcessId}", rules="[whoami]")).endswith(
        "| WHERE value_sum * 2 >= 5 * value_n")


@pytest.mark.parametrize(("kind", "target", "message"), [
    ("value_percentile", "es_dsl", "value_percentile: the percentiles aggregation and ES|QL PERCENTILE are "
                                   "approximate"),
    ("value_median", "es_esql", "value_median: the percentiles aggregation and ES|QL MEDIAN are approximate"),
    ("value_sum", "es_eql", "value_sum: EQL has no aggregations"),
    ("value_avg", "es_lucene", "correlation rules need aggregations"),
])
def test_value_statistics_refusals(kind: str, target: str, message: str) -> None:
    from tests.unit.test_correlation_kibana import rule

    with pytest.raises(SigmaError, match=f"{target}: correlation rule 'recon_burst': {message}"):
        convert(rule(kind, "{gte: 3, field: ProcessId}", rules="[whoami]"), target)


@pytest.mark.parametrize("target", ["es_dsl", "es_esql"])
def test_value_sum_needs_an_integer_field(target: str) -> None:
    from tests.unit.test_correlation_kibana import rule

    with pytest.raises(SigmaError, match=f"{target}: correlation rule 'recon_burst': value_sum over wildcard field "
                                         "'process.command_line': only integer fields"):
        convert(rule("value_sum", "{gte: 3, field: CommandLine}", rules="[whoami]"), target)
