"""The built wheel works as a sigma-cli plugin beside the official Elasticsearch/OpenSearch plugins."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

OFFICIAL_PLUGINS = ["sigma-cli==3.1.0", "pysigma-backend-elasticsearch", "pysigma-backend-opensearch"]
OUR_TARGETS = {"es_lucene", "es_eql", "es_dsl", "es_esql", "es_kql"}
OFFICIAL_TARGETS = {"lucene", "eql", "esql", "opensearch_lucene"}


def run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=900)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> Path:
    """A fresh virtual environment with sigma-cli, the official plugins and our wheel."""
    work = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "build", "--wheel", "--outdir", work / "dist", REPO)
    (wheel,) = (work / "dist").glob("sigma_es_backend-*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", *OFFICIAL_PLUGINS, wheel)
    return env_dir


def _listed_ids(output: str) -> set[str]:
    ids = set()
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] and not set(cells[0]) <= set("+-=") and cells[0].lower() not in ("identifier", "id"):
            ids.add(cells[0])
    return ids


def test_targets_listed_beside_official_plugins(plugin_env: Path) -> None:
    out = run(plugin_env / "bin" / "sigma", "list", "targets")
    ids = _listed_ids(out)
    assert OUR_TARGETS <= ids
    assert OFFICIAL_TARGETS <= ids
    assert "text_query" not in ids and "es" not in ids


def test_pipelines_listed(plugin_env: Path) -> None:
    ids = _listed_ids(run(plugin_env / "bin" / "sigma", "list", "pipelines"))
    assert "ecs" in ids and "ecs_windows" in ids


@pytest.mark.parametrize("target,formats", [
    ("es_lucene", {"default", "dsl_query"}), ("es_dsl", {"default", "query"}),
    ("es_eql", {"default", "eqlapi"}), ("es_esql", {"default"}),
    ("es_kql", {"default", "discover_ndjson", "kibana_rule", "kibana_ndjson"}),
])
def test_formats_listed(plugin_env: Path, target: str, formats: set[str]) -> None:
    assert formats <= _listed_ids(run(plugin_env / "bin" / "sigma", "list", "formats", target))


def test_sigma_cli_converts_seed_rule_with_packaged_mappings(plugin_env: Path, shared_dir: Path, tmp_path) -> None:
    # Run from an unrelated directory: the mappings must come from the installed wheel.
    out = run(plugin_env / "bin" / "sigma", "convert", "-t", "es_lucene", "-p", "ecs",
              shared_dir / "docs" / "seed-rule.yml", cwd=tmp_path)
    assert "process.executable.caseless:*\\\\wmiprvse.exe" in out
    assert "event.category:process AND event.type:start" in out


def test_sigma_es_entry_point(plugin_env: Path, shared_dir: Path, tmp_path) -> None:
    out = run(plugin_env / "bin" / "sigma-es", "convert", "-t", "es_dsl", shared_dir / "docs" / "seed-rule.yml",
              cwd=tmp_path)
    assert '"case_insensitive": true' in out
