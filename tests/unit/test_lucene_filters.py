"""es_lucene: a field reference as a Query DSL script filter beside the query_string (backends/lucene_filters.py).

query_string cannot compare two fields. Where the comparison is a condition of its own (ANDed with the rest,
negated or not, also inside `not 1 of filter_*`), dsl_query, the Kibana rule formats and the monitor carry
it as es_dsl's script query; the plain query_string refuses the rule, naming the formats; inside an OR it is
refused. tests/live/test_features_live.py runs the fieldref feature cases through dsl_query on OpenSearch.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError

from sigma_es_backend.backends import backends
from sigma_es_backend.pipelines import ecs_pipeline
from tests.unit.test_kibana_rules import _api_schema

RULE = """
title: Cross user spawn
id: 6f3c1f2e-0000-4000-8000-000000000002
logsource: {{product: windows, category: process_creation}}
detection:
    selection:
        Image|endswith: '\\notepad.exe'
    filter_same_user:
        User|fieldref: ParentUser
    filter_system:
        CommandLine|contains: 'svchost'
    condition: {condition}
"""
USER_SCRIPT_PARAMS = {"field": {"fields": ["user.domain", "user.name"], "separator": "\\"},
                      "reference": {"fields": ["winlog.event_data.ParentUser"], "separator": ""},
                      "operation": "equals"}


def lucene(condition: str, output_format: str = "dsl_query") -> str:
    backend = backends["es_lucene"](processing_pipeline=ecs_pipeline())
    (query,) = backend.convert(SigmaCollection.from_yaml(RULE.format(condition=condition)), output_format)
    return query


def script_params(query: dict) -> dict:
    return query["script"]["script"]["params"]


def test_negated_reference_is_a_must_not_script_filter_beside_the_query_string() -> None:
    body = json.loads(lucene("selection and not filter_same_user"))
    query_string, negated = body["query"]["bool"]["filter"]
    assert query_string["query_string"]["lenient"] is False
    assert "notepad.exe" in query_string["query_string"]["query"]
    assert "ParentUser" not in query_string["query_string"]["query"]
    (script,) = negated["bool"]["must_not"]
    assert script_params(script) == USER_SCRIPT_PARAMS


def test_reference_inside_not_one_of_is_taken_out_by_de_morgan() -> None:
    body = json.loads(lucene("selection and not 1 of filter_*"))
    query_string, negated = body["query"]["bool"]["filter"]
    text = query_string["query_string"]["query"]
    assert "NOT (process.command_line:/.*[Ss][Vv][Cc][Hh][Oo][Ss][Tt].*/)" in text  # the other filter, negated
    assert script_params(negated["bool"]["must_not"][0]) == USER_SCRIPT_PARAMS


def test_positive_reference_is_a_filter() -> None:
    body = json.loads(lucene("selection and filter_same_user"))
    _, script = body["query"]["bool"]["filter"]
    assert script_params(script) == USER_SCRIPT_PARAMS


@pytest.mark.parametrize("condition", ["selection or filter_same_user", "not (selection and filter_same_user)",
                                       "selection and (filter_system or filter_same_user)"])
def test_reference_inside_an_or_is_refused(condition: str) -> None:
    with pytest.raises(SigmaError, match=r"rule 'Cross user spawn'.*'User' \(user\.domain.*part of an OR"):
        lucene(condition)


def test_plain_query_string_refuses_naming_the_formats_that_carry_it() -> None:
    with pytest.raises(SigmaError, match=r"query_string cannot compare two fields \(the formats dsl_query, "
                                         r"kibana_rule, kibana_ndjson and opensearch_monitor carry"):
        lucene("selection and not filter_same_user", "default")


def test_kibana_rule_has_the_reference_as_a_negated_custom_filter(shared_dir: Path) -> None:
    rule = json.loads(lucene("selection and not filter_same_user", "kibana_rule"))
    jsonschema.validate(rule, _api_schema(shared_dir, "query"))
    assert rule["language"] == "lucene" and "notepad.exe" in rule["query"]
    (kibana_filter,) = rule["filters"]
    assert kibana_filter["meta"]["negate"] is True and kibana_filter["meta"]["type"] == "custom"
    assert "'User'" in kibana_filter["meta"]["alias"]
    assert script_params(kibana_filter["query"]) == USER_SCRIPT_PARAMS
    assert json.loads(kibana_filter["meta"]["value"]) == kibana_filter["query"]


def test_monitor_is_query_level_with_the_filter() -> None:
    monitor = json.loads(lucene("selection and not filter_same_user", "opensearch_monitor"))
    assert monitor["monitor_type"] == "query_level_monitor"
    search = json.dumps(monitor["inputs"][0]["search"]["query"])
    assert '"must_not"' in search and "winlog.event_data.ParentUser" in search


def test_the_split_works_on_a_copy_of_the_condition() -> None:
    from sigma.conversion.state import ConversionState

    from sigma_es_backend.backends import lucene_filters
    backend = backends["es_lucene"](processing_pipeline=ecs_pipeline())
    rule = SigmaCollection.from_yaml(RULE.format(condition="selection and not 1 of filter_*")).rules[0]
    backend.convert_rule(rule, "dsl_query")  # applies the pipeline to the rule
    cond = rule.detection.parsed_condition[0].parsed
    before = repr(cond), [id(arg.parent) for arg in cond.args]
    rest, filters = lucene_filters.split(cond, ConversionState(dict(backend.last_processing_pipeline.state)),
                                         "es_lucene")
    assert len(filters) == 1 and filters[0].negate
    assert (repr(cond), [id(arg.parent) for arg in cond.args]) == before


def _scripts(query: object) -> list[dict]:
    if isinstance(query, dict):
        return ([query] if "script" in query else []) + [s for v in query.values() for s in _scripts(v)]
    if isinstance(query, list):
        return [s for v in query for s in _scripts(v)]
    return []


def test_the_script_is_es_dsl_s() -> None:
    (dsl,) = backends["es_dsl"](processing_pipeline=ecs_pipeline()).convert(
        SigmaCollection.from_yaml(RULE.format(condition="selection and filter_same_user")))
    (dsl_script,) = [s for s in _scripts(json.loads(dsl)) if "params" in s.get("script", {}).get("script", {})]
    _, lucene_script = json.loads(lucene("selection and filter_same_user"))["query"]["bool"]["filter"]
    assert lucene_script == dsl_script


# RULE with a name, and a correlation over it that also outputs it (generate: true)
CORRELATED = RULE.replace("title: Cross user spawn\n", "title: Cross user spawn\nname: cross_user\n") + """---
title: Many notepads
id: 6f3c1f2e-0000-4000-8000-000000000004
correlation:
    type: event_count
    rules: [cross_user]
    group-by: [Computer]
    timespan: 10m
    condition: {{gte: 3}}
    generate: true
"""


@pytest.mark.parametrize("output_format", ["kibana_ndjson", "dsl_query"])
def test_a_rule_a_correlation_generates_is_finalized_as_any_rule(output_format: str) -> None:
    # pySigma returns such a rule's raw query (the correlation is built from it): finalized here
    backend = backends["es_lucene"](processing_pipeline=ecs_pipeline(), collect_errors=True)
    outputs = backend.convert(SigmaCollection.from_yaml(CORRELATED.format(condition="selection")), output_format)
    rule_output = json.loads(outputs[0])
    assert rule_output.get("rule_id") == "6f3c1f2e-0000-4000-8000-000000000002" if output_format == "kibana_ndjson" \
        else rule_output["query"]["query_string"]["lenient"] is False


def test_a_generated_rule_with_a_reference_is_refused_or_filtered_never_a_crash() -> None:
    collection = CORRELATED.format(condition="selection and not filter_same_user")
    backend = backends["es_lucene"](processing_pipeline=ecs_pipeline(), collect_errors=True)
    assert backend.convert(SigmaCollection.from_yaml(collection), "default") == []
    assert [str(e) for _, e in backend.errors if "Cross user spawn" in str(e)] and all(
        "query_string cannot compare two fields" in str(e) for _, e in backend.errors if "Cross user spawn" in str(e))
    backend = backends["es_lucene"](processing_pipeline=ecs_pipeline(), collect_errors=True)
    (rule_output, *_) = backend.convert(SigmaCollection.from_yaml(collection), "kibana_ndjson")
    assert json.loads(rule_output)["filters"][0]["meta"]["negate"] is True


def test_a_document_level_monitor_is_refused_naming_the_reference() -> None:
    backend = backends["es_lucene"](processing_pipeline=ecs_pipeline(), collect_errors=True, monitor_type="doc_level")
    assert backend.convert(SigmaCollection.from_yaml(RULE.format(condition="selection and not filter_same_user")),
                           "opensearch_monitor") == []
    (error,) = [str(e) for _, e in backend.errors]
    assert "'User'" in error and "a document-level monitor takes a query_string only" in error
