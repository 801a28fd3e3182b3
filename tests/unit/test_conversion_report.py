"""`--report FILE`: per rule fully mapped / warnings / failed + reason; totals by product and category."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from sigma_es_backend.cli import cli
from sigma_es_backend.conversion.report import CoverageReport
from sigma_es_backend.conversion.results import RuleResult
from tests.unit.test_conversion import GOOD


def write_rules(directory: Path) -> None:
    directory.mkdir()
    (directory / "good.yml").write_text(GOOD)
    (directory / "unmapped.yml").write_text(GOOD.replace("Image|endswith", "NoSuchField|endswith"))
    (directory / "nosource.yml").write_text(GOOD.replace("product: windows", "product: no_such_product"))


def test_json_report_lists_every_rule_with_status_and_reason(tmp_path: Path) -> None:
    write_rules(tmp_path / "rules")
    report = tmp_path / "coverage.json"
    result = CliRunner().invoke(cli, ["convert", "-t", "es_lucene", "--no-cache", "--report", str(report),
                                      str(tmp_path / "rules")])
    assert result.exit_code == 1
    data = json.loads(report.read_text())
    rows = {Path(r["path"]).name: r for r in data["rules"]}
    assert rows["good.yml"]["status"] == "mapped" and rows["good.yml"]["reasons"] == []
    assert rows["unmapped.yml"]["status"] == "failed" and "NoSuchField" in rows["unmapped.yml"]["reasons"][0]
    assert rows["nosource.yml"]["status"] == "failed" and rows["nosource.yml"]["reasons"]
    assert data["summary"] == {"group": "all", "rules": 3, "mapped": 1, "warnings": 0, "failed": 2,
                               "fully_mapped": 1, "backend_failed": 0, "fully_mapped_percent": 33.3,
                               "mapped_percent": 33.3}
    assert {(t["group"], t["rules"]) for t in data["by_product"]} == {("windows", 2), ("no_such_product", 1)}
    assert data["by_category"] == [{"group": "process_creation", "rules": 3, "mapped": 1, "warnings": 0,
                                    "failed": 2, "fully_mapped": 1, "backend_failed": 0,
                                    "fully_mapped_percent": 33.3, "mapped_percent": 33.3}]
    assert ("coverage: 1/3 rules fully mapped by the pipeline (33.3 %), 1/3 converted with es_lucene (33.3 %; "
            "0 fully mapped but not expressible), 0 with warnings, 2 failed") in result.stderr
    assert "no_such_product" in result.stderr and "process_creation" in result.stderr  # totals printed


def test_markdown_and_csv_reports(tmp_path: Path) -> None:
    report = CoverageReport("es_lucene", ("ecs",))
    report.add(RuleResult("a.yml", "1", "A", "windows", "process_creation", queries=["q"], pipeline_complete=True))
    report.add(RuleResult("b.yml", "2", "B", "windows", "process_creation", queries=["q"],
                          warnings=["field 'X' passed through unmapped"], pipeline_complete=True))
    report.add(RuleResult("c.yml", "3", "C", "linux", None, errors=["field 'Y|Z' has no ECS mapping"]))
    report.write(tmp_path / "r.md")
    markdown = (tmp_path / "r.md").read_text()
    assert "| windows | 2 | 1 | 1 | 0 | 0 | 50.0 | 50.0 |" in markdown
    assert "| linux | 1 | 0 | 0 | 1 | 0 | 0.0 | 0.0 |" in markdown
    assert "| b.yml | windows/process_creation | warnings | field 'X' passed through unmapped |" in markdown
    assert "| c.yml | linux | failed | field 'Y\\|Z' has no ECS mapping |" in markdown
    assert "a.yml" not in markdown  # only rules not fully mapped are listed
    report.write(tmp_path / "r.csv")
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [(r["path"], r["status"]) for r in rows] == [("a.yml", "mapped"), ("b.yml", "warnings"),
                                                        ("c.yml", "failed")]
    assert rows[2]["reasons"] == "field 'Y|Z' has no ECS mapping"


def test_report_suffix_is_checked_before_converting(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(GOOD)
    result = CliRunner().invoke(cli, ["convert", "-t", "es_lucene", "--no-cache", "--report",
                                      str(tmp_path / "r.txt"), str(tmp_path / "r.yml")])
    assert result.exit_code == 2 and "use a .json, .md, .csv file" in result.stderr


SCRIPT_BLOCK_RULE = """
title: Script block
status: test
logsource:
    product: windows
    category: ps_script
detection:
    sel:
        ScriptBlockText|contains: 'Invoke-Mimikatz'
    condition: sel
"""


def test_fully_mapped_is_the_pipeline_figure_converted_the_targets(tmp_path: Path) -> None:
    # The ps_script rule maps fully (the pipeline names powershell.file.script_block_text), but that
    # field is analyzed text: es_lucene cannot express the pattern, es_esql can.
    write_rules(tmp_path / "rules")
    (tmp_path / "rules" / "script.yml").write_text(SCRIPT_BLOCK_RULE)
    summaries = {}
    for target in ("es_lucene", "es_esql"):
        report = tmp_path / f"{target}.json"
        result = CliRunner().invoke(cli, ["convert", "-t", target, "--no-cache", "--report", str(report),
                                          str(tmp_path / "rules")])
        assert result.exit_code == 1
        data = json.loads(report.read_text())
        rows = {Path(r["path"]).name: r for r in data["rules"]}
        assert [name for name, row in sorted(rows.items()) if row["fully_mapped"]] == ["good.yml", "script.yml"]
        summaries[target] = data["summary"]
    assert summaries["es_lucene"] == {"group": "all", "rules": 4, "mapped": 1, "warnings": 0, "failed": 3,
                                           "fully_mapped": 2, "backend_failed": 1, "fully_mapped_percent": 50.0,
                                           "mapped_percent": 25.0}
    assert summaries["es_esql"] == {"group": "all", "rules": 4, "mapped": 2, "warnings": 0, "failed": 2,
                                    "fully_mapped": 2, "backend_failed": 0, "fully_mapped_percent": 50.0,
                                    "mapped_percent": 50.0}


def test_a_passthrough_warning_means_not_fully_mapped() -> None:
    result = RuleResult("b.yml", queries=["q"], warnings=["field 'X' passed through unmapped"],
                        pipeline_complete=True)
    assert result.ok and not result.fully_mapped
