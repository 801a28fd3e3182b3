"""Correlation rules as Kibana detection rules: event_count as a `threshold` rule (es_lucene, es_kql),
sequences as `eql` rules, STATS queries as `esql` rules; each validated against the detection engine's
API schema in ../shared/kibana; the time range each needs; what a threshold rule cannot express."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sigma.exceptions import SigmaError

from tests.conftest import convert
from tests.unit.test_correlations import correlation
from tests.unit.test_kibana_rules import _api_schema

META = "id: 0e95725d-7320-415d-80f7-004da920fc11\nlevel: high\ntags: [attack.discovery, attack.t1033]\n"


def rule(kind: str, condition: str | None, rules: str = "[whoami, net]", group_by: str = "[ParentImage]",
         timespan: str = "5m") -> str:
    text = correlation(kind, condition, rules).replace("name: recon_burst\n", "name: recon_burst\n" + META)
    # the rules not referenced are output too (as Kibana rules: they need ids)
    text = text.replace("name: net\n", "name: net\nid: 6ae1f5b8-2f0c-4d3a-9c77-0d1b1e0f5a10\n")
    return text.replace("group-by: [ParentImage]", f"group-by: {group_by}").replace("timespan: 5m",
                                                                                    f"timespan: {timespan}")


def kibana(rule_yaml: str, target: str, fmt: str = "kibana_rule", **options: Any) -> dict[str, Any]:
    from sigma.collection import SigmaCollection

    from sigma_es_backend.backends import backends
    from sigma_es_backend.pipelines import ecs_pipeline

    backend = backends[target](processing_pipeline=ecs_pipeline(), **options)
    return json.loads(backend.convert(SigmaCollection.from_yaml(rule_yaml), fmt)[-1])


@pytest.fixture(scope="module")
def schemas(shared_dir: Path) -> dict[str, jsonschema.Draft4Validator]:
    return {t: jsonschema.Draft4Validator(_api_schema(shared_dir, t)) for t in ("threshold", "eql", "esql")}


@pytest.mark.parametrize(("target", "language", "or_token"), [("es_lucene", "lucene", "OR"), ("es_kql", "kuery", "or")])
def test_event_count_is_a_threshold_rule_on_the_referenced_queries(target, language, or_token, schemas) -> None:
    body = kibana(rule("event_count", "{gte: 3}"), target)
    schemas["threshold"].validate(body)
    whoami, net = (convert(correlation("event_count", "{gte: 1}", rules=f"[{r}]").split("---")[i], target)[0]
                   for i, r in ((0, "whoami"), (1, "net")))
    assert (body["type"], body["language"]) == ("threshold", language)
    assert body["query"] == f"({whoami}) {or_token} ({net})"
    assert body["threshold"] == {"field": ["process.parent.executable"], "value": 3}
    assert body["rule_id"] == "0e95725d-7320-415d-80f7-004da920fc11" and body["severity"] == "high"
    assert body["index"] == ["logs-windows.sysmon_operational-*", "logs-system.security-*",
                             "logs-windows.forwarded-*", "winlogbeat-*"]
    assert {"name": "process.parent.executable", "type": "keyword", "ecs": True} in body["required_fields"]
    assert body["threat"][0]["technique"][0]["id"] == "T1033"


def test_threshold_gt_n_is_n_plus_one_and_one_rule_is_its_bare_query(schemas) -> None:
    body = kibana(rule("event_count", "{gt: 3}", rules="[whoami]"), "es_lucene")
    schemas["threshold"].validate(body)
    assert body["threshold"]["value"] == 4
    assert not body["query"].startswith("((")  # the whoami query alone


def test_threshold_without_group_by_counts_all_events(schemas) -> None:
    body = kibana(rule("event_count", "{gte: 10}").replace("    group-by: [ParentImage]\n", ""), "es_kql",
                  "kibana_ndjson")
    schemas["threshold"].validate(body)
    assert body["threshold"] == {"field": [], "value": 10}


@pytest.mark.parametrize(("interval", "expected"), [("10m", ("5m", "now-5m")), ("5m", ("5m", "now-5m")),
                                                    ("1m", ("1m", "now-5m"))])
@pytest.mark.parametrize("target", ["es_lucene", "es_esql"])
def test_aggregations_look_back_exactly_the_timespan(target: str, interval: str, expected: tuple[str, str]) -> None:
    """A threshold / ES|QL rule counts the events of one execution's range: that range is the timespan,
    and runs come at most a timespan apart so no window of events falls between two runs."""
    body = kibana(rule("event_count", "{gte: 3}"), target, interval=interval)
    assert (body["interval"], body["from"]) == expected


def test_eql_sequences_look_back_interval_lookback_and_timespan(schemas) -> None:
    body = kibana(rule("temporal_ordered", None, timespan="1h"), "es_eql", interval="5m", lookback="2m")
    schemas["eql"].validate(body)
    assert (body["type"], body["language"], body["interval"], body["from"]) == ("eql", "eql", "5m", "now-67m")
    assert body["query"] == convert(rule("temporal_ordered", None, timespan="1h"), "es_eql")[-1]


@pytest.mark.parametrize(("kind", "condition"), [("event_count", "{lt: 3}"), ("value_count", "{gte: 3, field: CommandLine}"),
                                                  ("temporal", None)])
def test_esql_rule_for_what_a_threshold_cannot_count(kind: str, condition: str | None, schemas) -> None:
    body = kibana(rule(kind, condition), "es_esql")
    schemas["esql"].validate(body)
    assert (body["type"], body["language"], "index" in body) == ("esql", "esql", False)
    assert body["query"] == convert(rule(kind, condition), "es_esql")[-1]


@pytest.mark.parametrize(("kind", "condition", "message"), [
    ("value_count", "{gte: 3, field: CommandLine}", "value_count: a Kibana threshold rule counts distinct values "
                                                    "with the cardinality aggregation .*approximate"),
    ("event_count", "{lt: 3}", "event_count condition '< 3': a Kibana threshold rule alerts on 'at least N events'"),
    ("event_count", "{eq: 3}", "event_count condition '== 3'"),
    ("temporal", None, "temporal: a Kibana threshold rule only counts events"),
    ("temporal_ordered", None, "temporal_ordered: a Kibana threshold rule only counts events"),
])
@pytest.mark.parametrize("target", ["es_lucene", "es_kql"])
def test_threshold_refusals_name_rule_and_reason(target: str, kind: str, condition: str | None, message: str) -> None:
    with pytest.raises(SigmaError, match=f"{target}: correlation rule 'recon_burst': {message}"):
        kibana(rule(kind, condition), target)


def test_threshold_takes_at_most_five_group_by_fields() -> None:
    six = "[ParentImage, Image, CommandLine, CurrentDirectory, OriginalFileName, ParentCommandLine]"
    with pytest.raises(SigmaError, match="6 group-by fields: a threshold rule takes at most 5"):
        kibana(rule("event_count", "{gte: 3}", group_by=six), "es_lucene")


@pytest.mark.parametrize("target", ["es_lucene", "es_kql"])
def test_default_format_still_refuses_correlations(target: str) -> None:
    with pytest.raises(SigmaError, match="correlation rules need aggregations or sequences.*-f kibana_rule"):
        convert(rule("event_count", "{gte: 3}"), target)


def test_kql_discover_objects_are_not_made_for_correlations() -> None:
    with pytest.raises(SigmaError, match="output format 'discover_ndjson' is not available for correlation rules "
                                         r"\(available: default, kibana_rule, kibana_ndjson\)"):
        convert(rule("event_count", "{gte: 3}"), "es_kql", "discover_ndjson")
