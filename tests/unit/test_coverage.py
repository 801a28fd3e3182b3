"""`sigma-es coverage`: per data source converted / failed rules, required fields, ATT&CK matrix, and a
Navigator layer valid against the layer format 4.5 definition."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from sigma_es_backend import attack
from sigma_es_backend.cli import cli
from sigma_es_backend.conversion import convert_paths
from sigma_es_backend.coverage import UNMAPPED, Coverage, collect
from sigma_es_backend.coverage.layer import navigator_layer
from sigma_es_backend.coverage.report import html_report, markdown_report


def sigma_rule(title: str, level: str, tags: list[str], selection: str,
               logsource: str = "product: windows\n    category: process_creation") -> str:
    tag_lines = "".join(f"\n    - {t}" for t in tags)
    return f"""title: {title}
id: 00000000-0000-4000-8000-{hashlib.md5(title.encode()).hexdigest()[:12]}
status: test
level: {level}
tags:{tag_lines or ' []'}
logsource:
    {logsource}
detection:
    selection:
        {selection}
    condition: selection
"""


RULES = {
    "powershell.yml": sigma_rule("Encoded PowerShell", "high", ["attack.execution", "attack.t1059.001"],
                                 "CommandLine|contains: ' -enc '\n        LogonId: '0x3e7'"),
    # T1218.011 is a Stealth technique: it must not be counted under Execution although the rule names it.
    "rundll32.yml": sigma_rule("Rundll32 Without Arguments", "low",
                               ["attack.execution", "attack.stealth", "attack.t1218.011"],
                               "Image|endswith: '\\rundll32.exe'"),
    # T1086 is revoked by T1059.001 in ATT&CK: counted as T1059.001.
    "legacy.yml": sigma_rule("Legacy PowerShell Tag", "critical", ["attack.execution", "attack.t1086"],
                             "OriginalFileName: PowerShell.EXE"),
    "unknown_tag.yml": sigma_rule("Unknown Tag", "medium", ["attack.t9999"], "Image|endswith: '\\evil.exe'"),
    "bad_field.yml": sigma_rule("Unmapped Field", "high", ["attack.t1059.001"], "NoSuchField: x"),
    "no_data_source.yml": sigma_rule("Widget Rule", "medium", ["attack.t1059.004"], "verb: run",
                                     logsource="product: acme\n    service: widget"),
}


@pytest.fixture(scope="module")
def coverage(tmp_path_factory: pytest.TempPathFactory) -> Coverage:
    folder = tmp_path_factory.mktemp("rules")
    for name, text in RULES.items():
        (folder / name).write_text(text)
    return collect(convert_paths([folder], "es_lucene"), "es_lucene", ["ecs"], [str(folder)])


def by_title(coverage: Coverage, title: str):
    return next(r for r in coverage.rules if r.title == title)


def test_rules_grouped_by_data_source_with_failure_reasons(coverage: Coverage) -> None:
    groups = {g.key: g for g in coverage.data_sources()}
    assert list(groups) == ["windows_process_creation", UNMAPPED]
    process = groups["windows_process_creation"]
    assert sorted(r.title for r in process.converted) == [
        "Encoded PowerShell", "Legacy PowerShell Tag", "Rundll32 Without Arguments", "Unknown Tag"]
    [failed] = process.failed
    assert failed.title == "Unmapped Field" and "NoSuchField" in failed.error
    [widget] = groups[UNMAPPED].failed
    assert widget.logsource == "acme / widget" and "no ECS data source mapping" in widget.error


def test_required_fields_with_types_and_rule_counts(coverage: Coverage) -> None:
    process = next(g for g in coverage.data_sources() if g.key == "windows_process_creation")
    fields = {f.name: (f.type, f.ecs, count) for f, count in process.fields()}
    assert fields["process.command_line"] == ("wildcard", True, 1)
    assert fields["process.executable"] == ("keyword", True, 2)
    assert fields["process.pe.original_file_name"] == ("keyword", True, 1)
    assert fields["winlog.event_data.LogonId"] == ("keyword", False, 1)  # the integration's, not ECS
    # The data source's event filter is part of every query.
    assert fields["event.category"] == ("keyword", True, 4) and fields["event.type"] == ("keyword", True, 4)
    assert by_title(coverage, "Unmapped Field").fields == ()  # a failed rule requires nothing


def test_matrix_counts_each_technique_under_its_own_tactics(coverage: Coverage) -> None:
    cells = coverage.matrix()
    powershell = cells[("T1059.001", "execution")]
    assert sorted(r.title for r in powershell.rules) == ["Encoded PowerShell", "Legacy PowerShell Tag"]
    assert powershell.top_level() == "critical"
    assert ("T1218.011", "stealth") in cells and ("T1218.011", "execution") not in cells
    # Failed rules and unknown tags cover nothing; unknown tags are reported.
    assert all(k[0] not in ("T1059.004", "T9999") for k in cells)
    assert coverage.unknown_tags() == {"attack.t9999": 1}
    assert [r.title for r in coverage.untagged()] == ["Unknown Tag"]


@pytest.fixture(scope="module")
def layer_schema() -> dict:
    text = resources.files("sigma_es_backend.coverage").joinpath("navigator-layer-4.5.schema.json").read_text()
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def test_layer_is_valid_navigator_layer_4_5(coverage: Coverage, layer_schema: dict) -> None:
    layer = navigator_layer(coverage)
    jsonschema.Draft202012Validator(layer_schema).validate(layer)
    assert layer["versions"] == {"attack": attack.attack_version(), "navigator": "5.1.0", "layer": "4.5"}
    assert layer["domain"] == "enterprise-attack"
    assert layer["gradient"]["maxValue"] > layer["gradient"]["minValue"]
    for entry in layer["techniques"]:  # every technique/tactic pair exists in ATT&CK
        technique = attack.technique(entry["techniqueID"])
        assert technique is not None and entry["tactic"] in [t.shortname for t in technique.tactics]


def test_layer_scores_rule_count_and_level(coverage: Coverage) -> None:
    entries = {(e["techniqueID"], e["tactic"]): e for e in navigator_layer(coverage)["techniques"]}
    powershell = entries[("T1059.001", "execution")]
    assert powershell["score"] == 4 + 5  # one high, one critical rule
    assert powershell["comment"] == "2 rules: 1 critical, 1 high"
    assert [m["value"] for m in powershell["metadata"]] == ["Legacy PowerShell Tag", "Encoded PowerShell"]
    assert entries[("T1218.011", "stealth")]["score"] == 2  # one low rule
    # Parents of covered sub-techniques are expanded, without a score of their own.
    assert entries[("T1218", "stealth")] == {"techniqueID": "T1218", "tactic": "stealth", "enabled": True,
                                             "showSubtechniques": True}
    assert ("T1218.011", "execution") not in entries


def test_layer_gradient_tops_out_at_the_90th_percentile_score(coverage: Coverage) -> None:
    layer = navigator_layer(coverage)
    scores = sorted(e["score"] for e in layer["techniques"] if "score" in e)
    assert scores == [2, 9]  # T1218.011 (one low rule), T1059.001 (high + critical)
    assert layer["gradient"] == {"colors": ["#fff7bc", "#fec44f", "#d95f0e"], "minValue": 0, "maxValue": 2}


def test_layer_schema_rejects_what_the_format_forbids(layer_schema: dict, coverage: Coverage) -> None:
    validator = jsonschema.Draft202012Validator(layer_schema)
    layer = navigator_layer(coverage)
    for broken in ({**layer, "versions": {**layer["versions"], "layer": "4.4"}},
                   {**layer, "techniques": [{"techniqueID": "1059"}]},
                   {**layer, "gradient": {"colors": ["#ffffff"], "minValue": 0, "maxValue": 1}},
                   {**layer, "unknownProperty": 1}):
        assert not validator.is_valid(broken)


def test_markdown_report(coverage: Coverage) -> None:
    text = markdown_report(coverage)
    assert "**6** rules: 4 converted, 2 failed" in text
    assert "| Process start (Sysmon 1, Security 4688) | 5 | 4 | 1 | 2 |" in text
    assert "| Execution (TA0002) | T1059.001 PowerShell (2, critical) |" in text
    assert "| `process.command_line` | wildcard | yes | 1 |" in text
    assert "`attack.t9999` (1)" in text
    assert "Widget Rule | acme / widget | rule 'Widget Rule'" in text
    assert "log source {product: acme, service: widget} has no ECS" in text


def test_html_report_escapes_and_lists_failures(coverage: Coverage) -> None:
    page = html_report(coverage, title="Coverage <test>")
    assert "<title>Coverage &lt;test&gt;</title>" in page
    assert "NoSuchField" in page and "Unmapped Field" in page
    assert "<code>process.command_line</code>" in page
    assert page.count('class="matrix"') == 2  # all data sources + the one data source with converted rules


def test_coverage_command_writes_layer_and_reports(tmp_path: Path, layer_schema: dict) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    for name in ("powershell.yml", "no_data_source.yml"):
        (rules / name).write_text(RULES[name])
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(cli, ["coverage", "--no-cache", "--layer", str(out / "layer.json"), "--html",
                                      str(out / "report.html"), "--markdown", str(out / "report.md"), str(rules)])
    assert result.exit_code == 0, result.output
    assert "1 rules converted, 1 failed, 1 techniques covered" in result.stderr
    jsonschema.Draft202012Validator(layer_schema).validate(json.loads((out / "layer.json").read_text()))
    assert "Encoded PowerShell" in (out / "report.html").read_text()
    assert "# Sigma rule coverage" in (out / "report.md").read_text()


def test_coverage_command_without_rules_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["coverage", "--no-cache", str(tmp_path)])
    assert result.exit_code == 1 and "no Sigma rule found" in result.stderr


def test_v19_tactics_and_retired_techniques(tmp_path: Path) -> None:
    """A rule tagged Stealth + T1112 counts T1112 under v19's own tactics (Defense Impairment,
    Persistence); a technique v19 retired (T1562.001) covers nothing and is reported, in reports and layer."""
    rules = {
        "registry.yml": sigma_rule("Registry Change", "medium", ["attack.stealth", "attack.t1112"],
                                   "Image|endswith: '\\reg.exe'"),
        "retired.yml": sigma_rule("Old Tool Tamper Tag", "high", ["attack.defense-evasion", "attack.t1562.001"],
                                  "Image|endswith: '\\sc.exe'"),
    }
    for name, text in rules.items():
        (tmp_path / name).write_text(text)
    coverage = collect(convert_paths([tmp_path], "es_lucene"), "es_lucene", ["ecs"], [str(tmp_path)])
    assert len(coverage.converted) == 2
    assert sorted(coverage.matrix()) == [("T1112", "defense-impairment"), ("T1112", "persistence")]
    assert coverage.retired_tags() == {"attack.t1562.001": 1} and coverage.unknown_tags() == {}
    assert sorted((e["techniqueID"], e["tactic"]) for e in navigator_layer(coverage)["techniques"]) == [
        ("T1112", "defense-impairment"), ("T1112", "persistence")]
    retired_line = "retired by ATT&CK 19 without replacement in the data (reported, not mapped)"
    assert f"{retired_line}: `attack.t1562.001` (1)" in markdown_report(coverage)
    assert f"{retired_line.replace('&', '&amp;')}: <code>attack.t1562.001</code> (1)" in html_report(coverage)
