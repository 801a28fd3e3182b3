"""Kibana detection rules: fields from the Sigma rule, ATT&CK threat, schedule, context; every rule of the
SigmaHQ corpus that converts validates against the Kibana rule schemas in ../shared/kibana."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sigma_es_backend.conversion import convert_paths
from sigma_es_backend.events.templates import ecs_index_body, merged_ecs_mappings
from sigma_es_backend.outputs.context import content_hash
from sigma_es_backend.outputs.levels import LEVELS
from sigma_es_backend.pipelines.ecs import _default_mapping_set
from tests.conftest import convert

KIBANA_TARGETS = {"es_lucene": "query", "es_eql": "eql", "es_esql": "esql", "es_kql": "query"}
CORPUS_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
# The whole corpus with es_lucene; es_eql / es_esql / es_kql share every field but type, language and query, so by
# default they run on every 4th rule file (the default run must stay fast on 2 cores).
# SIGMA_ES_FULL_CORPUS=1 runs the whole corpus with every target (~35 s more).
FULL_CORPUS = os.environ.get("SIGMA_ES_FULL_CORPUS", "") == "1"

RULE = """
title: Whoami Execution
id: 0C8A4A3E-3B5A-4D5E-9A43-0B0F3D3C1E01
status: test
description: Detects whoami.
references: [https://example.org/whoami]
author: Alice, Bob (Example Corp)
tags: [attack.discovery, attack.t1033, attack.execution, attack.t1059.001, attack.t1059.003, attack.g0016]
logsource: {product: windows, category: process_creation}
detection:
  selection:
    Image|endswith: '\\whoami.exe'
    IntegrityLevel: High
  condition: selection
falsepositives: [Admin scripts, Inventory tools]
level: informational
"""


def kibana_rule(rule_yaml: str, target: str = "es_lucene", **options: Any) -> dict[str, Any]:
    from sigma.collection import SigmaCollection

    from sigma_es_backend.backends import backends
    from sigma_es_backend.pipelines import ecs_pipeline

    backend = backends[target](processing_pipeline=ecs_pipeline(), **options)
    (text,) = backend.convert(SigmaCollection.from_yaml(rule_yaml), "kibana_rule")
    return json.loads(text)


@pytest.fixture(scope="module")
def validators(shared_dir: Path) -> dict[str, jsonschema.Draft4Validator]:
    return {rule_type: jsonschema.Draft4Validator(_api_schema(shared_dir, rule_type))
            for rule_type in ("query", "eql", "esql")}


def _api_schema(shared_dir: Path, rule_type: str) -> dict[str, Any]:
    """detection-rules' API schema for the rule type, completed with what the Kibana API (2023-10-31)
    requires and the shared schema predates: `related_integrations[].version` (+ optional `integration`)
    and `required_fields[].type` (added in Kibana 8.3 / detection-rules after the schema was generated);
    name, risk_score, rule_id and query are required by the create and import APIs."""
    path = shared_dir / f"kibana/detection_rules/etc/api_schemas/master/master.{rule_type}.json"
    schema = copy.deepcopy(json.loads(path.read_text()))
    props = schema["properties"]
    related = props["related_integrations"]["items"]
    related["properties"].update({"version": {"type": "string", "minLength": 1},
                                  "integration": {"type": "string", "minLength": 1}})
    related["required"] = ["package", "version"]
    required = props["required_fields"]["items"]
    required["properties"]["type"] = {"type": "string", "minLength": 1}
    required["required"] = ["name", "type", "ecs"]
    schema["required"] = sorted({*schema["required"], "name", "risk_score", "rule_id", "query"})
    return schema


# --- one rule, every field ---------------------------------------------------------------------------
def test_rule_fields_come_from_the_sigma_rule() -> None:
    rule = kibana_rule(RULE)
    assert rule["rule_id"] == "0c8a4a3e-3b5a-4d5e-9a43-0b0f3d3c1e01"  # Kibana's pattern is lowercase
    assert (rule["name"], rule["description"]) == ("Whoami Execution", "Detects whoami.")
    assert (rule["type"], rule["language"]) == ("query", "lucene")
    assert rule["references"] == ["https://example.org/whoami"]
    assert rule["false_positives"] == ["Admin scripts", "Inventory tools"]
    assert rule["author"] == ["Alice", "Bob (Example Corp)"]
    assert rule["license"] == "DRL-1.1"
    assert rule["tags"][-1] == "sigma-es" and "attack.g0016" in rule["tags"]
    assert rule["index"] == ["logs-windows.sysmon_operational-*", "logs-system.security-*",
                             "logs-windows.forwarded-*", "winlogbeat-*"]
    assert (rule["max_signals"], rule["version"], rule["enabled"]) == (100, 1, True)


def test_informational_is_low_with_the_lowest_risk() -> None:
    rule = kibana_rule(RULE)
    assert (rule["severity"], rule["risk_score"]) == ("low", 1)


@pytest.mark.parametrize("level", LEVELS)
def test_severity_and_risk_come_from_the_one_level_table(level: str) -> None:
    rule = kibana_rule(RULE.replace("level: informational", f"level: {level}"))
    assert (rule["severity"], rule["risk_score"]) == (LEVELS[level].kibana_severity, LEVELS[level].risk_score)
    assert rule["severity"] in ("low", "medium", "high", "critical")


def test_each_technique_sits_under_its_own_tactic() -> None:
    threat = kibana_rule(RULE)["threat"]
    assert threat == [
        {"framework": "MITRE ATT&CK",
         "tactic": {"id": "TA0007", "name": "Discovery", "reference": "https://attack.mitre.org/tactics/TA0007/"},
         "technique": [{"id": "T1033", "name": "System Owner/User Discovery",
                        "reference": "https://attack.mitre.org/techniques/T1033/"}]},
        {"framework": "MITRE ATT&CK",
         "tactic": {"id": "TA0002", "name": "Execution", "reference": "https://attack.mitre.org/tactics/TA0002/"},
         "technique": [{"id": "T1059", "name": "Command and Scripting Interpreter",
                        "reference": "https://attack.mitre.org/techniques/T1059/",
                        "subtechnique": [
                            {"id": "T1059.001", "name": "PowerShell",
                             "reference": "https://attack.mitre.org/techniques/T1059/001/"},
                            {"id": "T1059.003", "name": "Windows Command Shell",
                             "reference": "https://attack.mitre.org/techniques/T1059/003/"}]}]},
    ]


def test_revoked_technique_is_filed_as_its_replacement_and_a_retired_one_is_left_out() -> None:
    """T1086 was revoked by T1059.001; T1562.001 was retired by ATT&CK v19 (in no tactic): Kibana's `threat`
    wants a tactic per entry, so it is left out rather than placed under a tactic it no longer has."""
    tags = "tags: [attack.execution, attack.t1086, attack.defense-evasion, attack.t1562.001]"
    threat = kibana_rule(re.sub(r"^tags: .*$", tags, RULE, flags=re.MULTILINE))["threat"]
    assert [(t["tactic"]["id"], [(x["id"], [s["id"] for s in x.get("subtechnique", [])]) for x in t["technique"]])
            for t in threat] == [("TA0002", [("T1059", ["T1059.001"])]), ("TA0005", [])]


def test_lookback_overlaps_the_interval() -> None:
    assert (kibana_rule(RULE)["interval"], kibana_rule(RULE)["from"]) == ("5m", "now-6m")
    rule = kibana_rule(RULE, interval="1h", lookback="5m", max_signals=500, version=3)
    assert (rule["interval"], rule["from"], rule["max_signals"], rule["version"]) == ("1h", "now-65m", 500, 3)


def test_bad_interval_fails_the_rule_with_a_reason() -> None:
    with pytest.raises(Exception, match="interval 'soon' is not a duration"):
        kibana_rule(RULE, interval="soon")


def test_rule_license_wins_over_the_default() -> None:
    assert kibana_rule(RULE.replace("level:", "license: MIT\nlevel:"))["license"] == "MIT"


def test_context_integrations_required_fields_setup_note() -> None:
    rule = kibana_rule(RULE)
    assert rule["related_integrations"] == [
        {"package": "windows", "integration": "sysmon_operational", "version": ">=1.0.0"},
        {"package": "system", "integration": "security", "version": ">=1.0.0"}]
    assert rule["required_fields"] == [
        {"name": "event.category", "type": "keyword", "ecs": True},
        {"name": "event.code", "type": "keyword", "ecs": True},
        {"name": "event.type", "type": "keyword", "ecs": True},
        {"name": "process.executable", "type": "keyword", "ecs": True},
        {"name": "winlog.channel", "type": "keyword", "ecs": False},
        {"name": "winlog.event_data.IntegrityLevel", "type": "keyword", "ecs": False}]
    assert rule["setup"].startswith("## Setup\n\nSysmon event ID 1 (ProcessCreate)")
    assert "- `windows` / `sysmon_operational` (>=1.0.0)" in rule["setup"]
    note = rule["note"]
    assert "### Investigating Whoami Execution\n\nDetects whoami.\n" in note
    assert "### False positive analysis\n\n- Admin scripts\n- Inventory tools\n" in note
    assert "### References\n\n- https://example.org/whoami\n" in note


def test_eql_and_esql_rules() -> None:
    eql = kibana_rule(RULE, "es_eql")
    assert (eql["type"], eql["language"]) == ("eql", "eql") and eql["query"].startswith("any where ")
    esql = kibana_rule(RULE, "es_esql")
    assert (esql["type"], esql["language"]) == ("esql", "esql") and "index" not in esql
    assert esql["query"].startswith("FROM logs-windows.sysmon_operational-*,") and " METADATA _id" in esql["query"]


def test_content_hash_is_in_meta_and_changes_with_the_rule() -> None:
    rule = kibana_rule(RULE)
    meta = rule.pop("meta")
    assert meta["managed_by"] == "sigma-es"
    assert meta["sigma_es_hash"] == content_hash({**rule, "meta": {"managed_by": "sigma-es"}})
    changed = kibana_rule(RULE.replace("Detects whoami.", "Detects whoami!"))
    assert changed["meta"]["sigma_es_hash"] != meta["sigma_es_hash"]


def test_rule_without_id_fails_with_a_reason() -> None:
    without_id = "\n".join(line for line in RULE.splitlines() if not line.startswith("id:"))
    with pytest.raises(Exception, match="needs the Sigma rule's id"):
        kibana_rule(without_id)


def test_ndjson_is_one_line_per_rule_with_the_same_content() -> None:
    (line,) = convert(RULE, "es_lucene", "kibana_ndjson")
    assert "\n" not in line and json.loads(line) == kibana_rule(RULE)


@pytest.mark.parametrize("target", KIBANA_TARGETS)
def test_inline_rule_validates(target: str, validators) -> None:
    rule = kibana_rule(RULE, target)
    validators[KIBANA_TARGETS[target]].validate(rule)


def test_schema_overlay_rejects_what_kibana_rejects(validators) -> None:
    rule = kibana_rule(RULE)
    for broken in ({**rule, "severity": "informational"}, {**rule, "risk_score": 101},
                   {**rule, "related_integrations": [{"package": "windows"}]},
                   {**rule, "required_fields": [{"name": "a", "ecs": True}]},
                   {k: v for k, v in rule.items() if k != "rule_id"}):
        assert not validators["query"].is_valid(broken)


# --- the SigmaHQ corpus --------------------------------------------------------------------------------
def _field_types(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    types: dict[str, str] = {}
    for name, spec in properties.items():
        if "type" in spec:
            types[prefix + name] = spec["type"]
        if "properties" in spec:
            types.update(_field_types(spec["properties"], f"{prefix}{name}."))
    return types


@pytest.fixture(scope="module")
def index_template_types(shared_dir: Path) -> dict[str, str]:
    """Field → type in the Elasticsearch index the integrations write: ECS composable templates from
    ../shared/ecs plus the integrations' own fields; any other string is a keyword (dynamic template)."""
    body = ecs_index_body(shared_dir / "ecs", _default_mapping_set().field_capabilities, flavor="elasticsearch")
    assert body["mappings"]["dynamic_templates"][0]["strings_as_keyword"]["mapping"]["type"] == "keyword"
    return _field_types(body["mappings"]["properties"])


@pytest.fixture(scope="module")
def ecs_fields(shared_dir: Path) -> set[str]:
    """The fields ECS itself defines (../shared/ecs), without the integrations' additions."""
    return set(_field_types(merged_ecs_mappings(shared_dir / "ecs")["properties"]))


@pytest.mark.parametrize("target", KIBANA_TARGETS)
def test_every_converted_corpus_rule_validates(target: str, shared_dir: Path, validators,
                                               index_template_types: dict[str, str], ecs_fields: set[str]) -> None:
    validator = validators[KIBANA_TARGETS[target]]
    declared = _default_mapping_set().field_capabilities
    paths = sorted(p for d in CORPUS_DIRS for p in (shared_dir / "sigma" / d).rglob("*.yml"))
    sampled = not FULL_CORPUS and target != "es_lucene"
    if sampled:
        paths = paths[::4]
    converted, invalid, crashed, wrong_types, checked_fields = 0, [], [], [], set()
    # KQL has no case-insensitive operator: most rules fail strictly; the rule body is what is checked here,
    # so es_kql matches case-sensitively where it must (tests/unit/test_kql_corpus.py checks the queries).
    options = {"case_approximation": "true"} if target == "es_kql" else {}
    for result in convert_paths(paths, target, output_format="kibana_ndjson", backend_options=options,
                                jobs=None):  # worker processes on every core
        if not result.ok:
            # Rules the query language cannot express fail with a Sigma error; a Python exception
            # here would be a bug in the detection output.
            if result.error and result.error.split(":")[0] in ("KeyError", "TypeError", "AttributeError",
                                                                "IndexError", "ValueError", "AssertionError"):
                crashed.append(f"{result.path}: {result.error}")
            continue
        for line in result.queries:
            rule = json.loads(line)
            converted += 1
            errors = sorted(validator.iter_errors(rule), key=str)
            if errors:
                invalid.append(f"{result.path}: {errors[0].message}")
            # Each required field's type is the one the index template gives it (ECS, Windows integration),
            # else the one a mapping file declares for another integration's field (squid.status_code long),
            # else keyword (the dynamic template); `ecs` is true exactly for the fields ECS defines.
            for field in rule["required_fields"]:
                name = field["name"]
                expected = index_template_types.get(name) or (declared[name].type if name in declared else "keyword")
                if (field["type"], field["ecs"]) != (expected, name in ecs_fields):
                    wrong_types.append(f"{result.path}: {field}: expected {expected}, ECS field: {name in ecs_fields}")
                checked_fields.add(name)
    assert crashed == []
    assert invalid == []
    assert wrong_types[:20] == [] and len(checked_fields) > (50 if sampled else 150)
    # The Windows rules the mappings cover (2,120 of 3,754 when written): most of the corpus is checked.
    # (es_kql: 423 sampled, 1,663 in all, whitespace inside `*` patterns being the main failure)
    assert converted > ((300, 1200) if target == "es_kql" else (500, 2000))[0 if sampled else 1]
