"""Content-hash cache: cached outputs equal uncached ones; each input of the key invalidates it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sigma_es_backend.cli import cli
from sigma_es_backend.conversion import ConversionSettings, cache
from sigma_es_backend.conversion.batch import convert_files
from sigma_es_backend.conversion.cache import ResultCache, fingerprint
from sigma_es_backend.conversion.loading import iter_rule_files
from sigma_es_backend.pipelines.mapping_files import mappings_dir
from tests.unit.test_conversion import GOOD, corpus_sample


def run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["convert", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("mode", [[], ["--json"]])
def test_cached_run_outputs_exactly_what_an_uncached_run_does(tmp_path: Path, shared_dir: Path, mode) -> None:
    rules = [str(p) for p in corpus_sample(shared_dir, 40)]
    cache_dir = str(tmp_path / "cache")
    uncached = run(["-t", "es_lucene", "--no-cache", *mode, *rules])
    first = run(["-t", "es_lucene", "--cache-dir", cache_dir, *mode, *rules])
    second = run(["-t", "es_lucene", "--cache-dir", cache_dir, *mode, *rules])
    assert uncached[0] == first[0] == second[0] == 1  # the sample has failing rules: they are cached too
    assert uncached[1] == first[1] == second[1] and uncached[1].count("\n") > 20
    assert f"{len(rules)} files from cache" in second[2] and "from cache" not in first[2]
    errors = [line for line in uncached[2].splitlines() if line.startswith("error:")]
    assert errors and errors == [line for line in second[2].splitlines() if line.startswith("error:")]


def test_changed_rule_file_is_converted_again(tmp_path: Path) -> None:
    rule = tmp_path / "r.yml"
    rule.write_text(GOOD)
    args = ["-t", "es_lucene", "--cache-dir", str(tmp_path / "cache"), str(rule)]
    _, before, _ = run(args)
    rule.write_text(GOOD.replace("cmd.exe", "pwsh.exe"))
    _, after, err = run(args)
    assert "cmd" in before and "pwsh" in after and "from cache" not in err
    _, again, err = run(args)
    assert again == after and "1 files from cache" in err


@pytest.mark.parametrize("damage", ["not a database", "truncated"])
def test_a_damaged_cache_file_is_replaced_by_an_empty_cache(tmp_path: Path, damage: str) -> None:
    # The cache is written without waiting for the disk: a machine crash may leave a damaged file,
    # which must cost a re-conversion, never a failed run.
    rule = tmp_path / "r.yml"
    rule.write_text(GOOD)
    args = ["-t", "es_lucene", "--cache-dir", str(tmp_path / "cache"), str(rule)]
    status, before, _ = run(args)
    database = tmp_path / "cache" / cache.CACHE_FILE
    if damage == "not a database":
        database.write_bytes(b"\0garbage" * 1000)
    else:  # the header says more pages than the file has: SQLite reports the image malformed
        data = database.read_bytes()
        database.write_bytes(data[:100] + b"\xff" * (len(data) - 100))
    converted = run(args)
    assert converted[:2] == (status, before) and "from cache" not in converted[2]
    cached = run(args)  # stored again
    assert cached[:2] == (status, before) and "1 files from cache" in cached[2]


def test_cache_entries_are_the_results(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(GOOD)
    settings = ConversionSettings.create("es_lucene")
    files = list(iter_rule_files([tmp_path]))
    store = ResultCache(tmp_path / "cache", settings)
    fresh = list(convert_files(files, settings, cache=store))
    store.close()
    store = ResultCache(tmp_path / "cache", settings)
    cached = list(convert_files(files, settings, cache=store))
    assert store.hits == 1 and [r.as_dict() for r in cached] == [r.as_dict() for r in fresh]


@pytest.mark.parametrize("value", [
    [{"q": "a:1", "n": 1, "f": 2.5, "neg": -0.0, "b": True, "none": None, "l": ["é", {"k": [1, 2]}]}],
    [], ["x" * 3],
])
def test_results_json_gives_back_exactly_are_cached_as_that_json(value) -> None:
    import json

    text = cache.json_exact(value)
    assert text is not None and json.loads(text) == value and "\\u00e9" not in text


@pytest.mark.parametrize("value", [
    [("a", "b")], [{1: "a"}], [{"k": float("nan")}], [float("inf")], [{"k": object()}], [{"k": {True: 1}}],
    [b"bytes"], [{"k": {1, 2}}],
])
def test_results_json_would_change_are_never_cached(value) -> None:
    assert cache.json_exact(value) is None


@pytest.mark.parametrize("target", ["es_lucene", "es_dsl"])
def test_results_json_is_json_exact_of_the_records(shared_dir: Path, target: str) -> None:
    from sigma_es_backend.conversion import convert_paths

    results = list(convert_paths(corpus_sample(shared_dir, 60), target))
    assert any(r.ok for r in results) and any(not r.ok for r in results)
    for result in results:
        assert cache.results_json([result]) == cache.json_exact([result.as_dict()])
    assert cache.results_json(results) == cache.json_exact([r.as_dict() for r in results])


def test_string_queries_do_not_let_other_fields_skip_the_check() -> None:
    from sigma_es_backend.conversion.results import RuleResult

    odd = RuleResult("r.yml", queries=["a:1"], data_source={"id": "x", "integrations": ("windows",)})
    assert cache.results_json([odd]) is None and cache.json_exact([odd.as_dict()]) is None
    plain = RuleResult("r.yml", queries=["a:\\b é"], data_source={"id": "x", "integrations": ["windows"]})
    assert cache.results_json([plain]) == cache.json_exact([plain.as_dict()]) is not None


BASE = ConversionSettings.create("es_lucene", ("ecs",), "default", {"engine": "opensearch"})


@pytest.mark.parametrize("changed", [
    ConversionSettings.create("es_dsl", ("ecs",), "default", {"engine": "opensearch"}),
    ConversionSettings.create("es_lucene", ("ecs",), "siem_rule", {"engine": "opensearch"}),
    ConversionSettings.create("es_lucene", ("ecs",), "default", {"engine": "elasticsearch"}),
    ConversionSettings.create("es_lucene", ("ecs",), "default", {}),
    ConversionSettings.create("es_lucene", ("ecs", "extra.yml"), "default", {"engine": "opensearch"}),
], ids=["target", "format", "option value", "options", "pipelines"])
def test_fingerprint_changes_with_each_setting(changed: ConversionSettings) -> None:
    assert fingerprint(changed) != fingerprint(BASE)
    assert fingerprint(ConversionSettings.create("es_lucene", ["ecs"], "default", {"engine": "opensearch"})) \
        == fingerprint(BASE)


def test_fingerprint_changes_with_pipeline_file_content(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.yml"
    pipeline.write_text("name: a\ntransformations: []\n")
    settings = ConversionSettings.create("es_lucene", ("ecs", str(pipeline)))
    before = fingerprint(settings)
    pipeline.write_text("name: b\ntransformations: []\n")
    assert fingerprint(settings) != before


def test_fingerprint_changes_with_mapping_files_version_pysigma_and_source(tmp_path: Path, monkeypatch) -> None:
    before = fingerprint(BASE)
    mappings = tmp_path / "mappings"
    for source in sorted(mappings_dir().rglob("*.yml")):
        target = mappings / source.relative_to(mappings_dir())
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    monkeypatch.setattr(cache, "mapping_files_dir", lambda: mappings)
    assert fingerprint(BASE) == before  # same content elsewhere: same key
    first = sorted(mappings.rglob("*.yml"))[0]
    first.write_bytes(first.read_bytes() + b"\n# changed\n")
    assert fingerprint(BASE) != before
    monkeypatch.undo()

    monkeypatch.setattr(cache, "__version__", "99.0")
    assert fingerprint(BASE) != before
    monkeypatch.undo()
    monkeypatch.setattr(cache, "pysigma_version", lambda: "0.0.1")
    assert fingerprint(BASE) != before
    monkeypatch.undo()

    package = tmp_path / "pkg"
    package.mkdir()
    (package / "x.py").write_text("X = 1\n")
    monkeypatch.setattr(cache, "_package_dir", lambda: package)
    monkeypatch.setattr(cache, "mapping_files_dir", lambda: mappings_dir())
    changed_source = fingerprint(BASE)
    (package / "x.py").write_text("X = 2\n")
    assert fingerprint(BASE) != changed_source


def test_cache_finds_the_mapping_files_the_pipeline_loads() -> None:
    assert cache.mapping_files_dir() == mappings_dir()


def test_pysigma_version_is_the_one_importlib_metadata_gives() -> None:
    from importlib import metadata

    from sigma_es_backend.conversion.versions import pysigma_version

    pysigma_version.cache_clear()
    assert pysigma_version() == metadata.version("pysigma")


def test_pysigma_version_without_a_dist_info_beside_pysigma_asks_importlib_metadata(monkeypatch) -> None:
    from importlib import metadata, util

    from sigma_es_backend.conversion import versions

    monkeypatch.setattr(util, "find_spec", lambda name: None)
    versions.pysigma_version.cache_clear()
    try:
        assert versions.pysigma_version() == metadata.version("pysigma")
    finally:
        versions.pysigma_version.cache_clear()
