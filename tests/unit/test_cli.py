"""`sigma-es` command line, driven in-process."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from sigma_es_backend.cli import cli


def test_convert_reports_bad_rule_and_converts_the_rest(tmp_path: Path, seed_rule_yaml: str) -> None:
    (tmp_path / "good.yml").write_text(seed_rule_yaml)
    (tmp_path / "bad.yml").write_text(seed_rule_yaml.replace("ParentImage|endswith", "NoSuchField|endswith"))
    result = CliRunner().invoke(cli, ["convert", "-t", "es_lucene", "--json", str(tmp_path)])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    by_file = {Path(line["path"]).name: line for line in lines}
    assert by_file["good.yml"]["errors"] == [] and len(by_file["good.yml"]["queries"]) == 1
    assert "field 'NoSuchField' has no ECS mapping" in by_file["bad.yml"]["errors"][0]
    assert "2 rules in 2 files: 1 converted (0 with warnings), 1 failed" in result.stderr


def test_convert_rejects_unknown_format(tmp_path: Path, seed_rule_yaml: str) -> None:
    (tmp_path / "r.yml").write_text(seed_rule_yaml)
    result = CliRunner().invoke(cli, ["convert", "-t", "es_esql", "-f", "eqlapi", str(tmp_path / "r.yml")])
    assert result.exit_code == 2
    assert "'eqlapi' is not a format of es_esql" in result.stderr
