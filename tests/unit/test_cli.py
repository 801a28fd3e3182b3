"""`sigma-es` command line, driven in-process (and through its entry point in a process of its own)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from sigma_es_backend.cli import cli

REPO = Path(__file__).resolve().parents[2]


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


def sigma_es(*args: str | Path, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess:
    """The console script's own entry point (`main`), in a process of its own."""
    return subprocess.run([sys.executable, "-c", "from sigma_es_backend.cli import main; main()", *map(str, args)],
                          stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=300)


def test_convert_ends_with_every_output_written(tmp_path: Path, seed_rule_yaml: str) -> None:
    # `main` ends a convert run with os._exit: nothing may be left in a buffer or an unclosed file
    for n in range(40):  # enough files for worker processes
        (tmp_path / "rules" / f"r{n}").mkdir(parents=True)
        (tmp_path / "rules" / f"r{n}" / "good.yml").write_text(seed_rule_yaml.replace("WmiPrvSE", f"WmiPrvSE{n}"))
    (tmp_path / "rules" / "bad.yml").write_text(seed_rule_yaml.replace("ParentImage|endswith", "NoSuchField|endswith"))
    cache = tmp_path / "cache"
    done = sigma_es("convert", "-t", "es_lucene", "--json", "-o", tmp_path / "out.jsonl", "--report",
                    tmp_path / "report.json", "--cache-dir", cache, "-j", "2", tmp_path / "rules")
    assert done.returncode == 1, done.stderr  # one rule failed
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(lines) == 41 and sum(not line["errors"] for line in lines) == 40
    assert len(json.loads((tmp_path / "report.json").read_text())["rules"]) == 41
    assert "41 rules in 41 files: 40 converted (0 with warnings), 1 failed" in done.stderr
    queries = sigma_es("convert", "-t", "es_lucene", "--no-cache", tmp_path / "rules").stdout.lower()
    assert all(f"wmiprvse{n}.exe" in queries for n in range(40))  # stdout to a pipe, flushed
    again = sigma_es("convert", "-t", "es_lucene", "--cache-dir", cache, "-d", tmp_path / "out", tmp_path / "rules")
    assert "41 files from cache" in again.stderr  # the first run's cache was committed
    assert len(list((tmp_path / "out").rglob("*.txt"))) == 40  # one query file per converted rule
    (tmp_path / "rules" / "bad.yml").unlink()
    assert sigma_es("convert", "-t", "es_lucene", "--no-cache", tmp_path / "rules").returncode == 0
    usage = sigma_es("convert", "-t", "es_esql", "-f", "eqlapi", tmp_path / "rules")
    assert usage.returncode == 2 and "'eqlapi' is not a format of es_esql" in usage.stderr
