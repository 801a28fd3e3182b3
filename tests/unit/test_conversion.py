"""Batch conversion: per-rule isolation, backend reuse, worker processes, outputs, registry laziness."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sigma.collection import SigmaCollection

from sigma_es_backend.backends import backends
from sigma_es_backend.cli import cli
from sigma_es_backend.conversion import ConversionSettings, convert_paths, iter_rule_files
from sigma_es_backend.conversion.batch import convert_files
from sigma_es_backend.conversion.converter import Converter, resolve_pipeline
from tests.conftest import REPO

GOOD = """
title: Cmd child of Word
id: 11111111-1111-4111-8111-111111111111
status: test
logsource:
    product: windows
    category: process_creation
detection:
    sel:
        ParentImage|endswith: '\\winword.exe'
        Image|endswith: '\\cmd.exe'
    condition: sel
level: high
"""


def corpus_sample(shared_dir: Path, every: int) -> list[Path]:
    dirs = [shared_dir / "sigma" / d for d in ("rules", "rules-emerging-threats", "rules-threat-hunting")]
    return list(iter_rule_files(dirs))[::every]


@pytest.mark.parametrize("target", ["es_lucene", "es_dsl"])
def test_reused_backend_gives_the_queries_of_a_fresh_backend_per_rule(shared_dir: Path, target: str) -> None:
    """The converter keeps one backend for all rules; pySigma's own path builds one per rule."""
    files = corpus_sample(shared_dir, 25)
    reused_one = Converter(ConversionSettings.create(target))
    reused = [r for f in files for r in reused_one.convert_file(f)]
    fresh = []
    for path in files:
        for rule in SigmaCollection.load_ruleset([path], collect_errors=True).rules:
            backend = backends[target](processing_pipeline=resolve_pipeline(["ecs"]), collect_errors=True)
            try:
                queries = backend.convert(SigmaCollection([rule]), "default")
            except Exception as error:  # noqa: BLE001
                queries = error
            fresh.append([] if backend.errors or isinstance(queries, Exception) else queries)
    assert len(reused) == len(fresh) > 100
    assert [r.queries for r in reused] == fresh
    assert sum(1 for r in reused if r.ok) > 30  # the comparison covers converted rules, not only failures


def test_worker_processes_give_the_results_of_one_process_in_file_order(shared_dir: Path) -> None:
    files = corpus_sample(shared_dir, 60)
    settings = ConversionSettings.create("es_lucene")
    sequential = list(convert_files(files, settings, jobs=1))
    parallel = list(convert_files(files, settings, jobs=2))
    assert len(files) >= 32  # enough files for two workers
    assert [r.as_dict() for r in parallel] == [r.as_dict() for r in sequential]
    assert [r.path for r in parallel] == sorted((r.path for r in parallel), key=[str(f) for f in files].index)


@pytest.mark.parametrize("enabled", [True, False])
def test_one_process_conversion_restores_the_callers_garbage_collector(shared_dir: Path, enabled: bool) -> None:
    """In-process conversion runs with automatic collection off (as the workers do) and gives it back."""
    import gc

    (gc.enable if enabled else gc.disable)()
    try:
        results = convert_files(corpus_sample(shared_dir, 20), ConversionSettings.create("es_lucene"), jobs=1)
        first = next(results)
        assert not gc.isenabled() and first.path
        assert len(list(results)) >= 19
        assert gc.isenabled() is enabled and gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_large_files_go_first_to_the_workers_and_results_keep_file_order(tmp_path: Path) -> None:
    from sigma_es_backend.conversion.batch import BIG_FILE_BYTES

    files = []
    for n in range(40):
        path = tmp_path / f"r{n:02d}.yml"
        padding = "#" * BIG_FILE_BYTES + "\n" if n in (7, 31) else ""  # two large files among small ones
        path.write_text(padding + GOOD.replace("Cmd child", f"Cmd {n} child"))
        files.append(path)
    settings = ConversionSettings.create("es_lucene")
    parallel = list(convert_files(files, settings, jobs=2))
    assert [r.title for r in parallel] == [f"Cmd {n} child of Word" for n in range(40)]
    assert [r.as_dict() for r in parallel] == [r.as_dict() for r in convert_files(files, settings, jobs=1)]


def test_tasks_cover_every_job_once_and_shrink_towards_the_end() -> None:
    from sigma_es_backend.conversion.batch import SMALLEST_TASK, guided_tasks

    tasks = guided_tasks(5, 3605, workers=2)
    assert [n for task in tasks for n in task] == list(range(5, 3605))
    sizes = [len(task) for task in tasks]
    assert sizes[0] == 900 and sizes == sorted(sizes, reverse=True)  # half of a worker's share of what is left
    assert all(size >= SMALLEST_TASK for size in sizes[:-1]) and len(tasks) < 40
    assert guided_tasks(3, 3, workers=2) == []


def test_files_with_regexp_values_count_as_slow_and_go_first() -> None:
    from sigma_es_backend.conversion.batch import _slow

    # a byte scan: a value that merely contains "|re:" counts too, which only moves its file earlier
    assert _slow(b"detection:\n  sel:\n    CommandLine|re: 'a.{3,64}b'\n")
    assert _slow(b"detection:\n  sel:\n    CommandLine|re|i: 'a.*b'\n")
    assert not _slow(b"detection:\n  sel:\n    Image|endswith: '\\\\cmd.exe'\n")


def test_one_bad_file_or_rule_never_stops_the_batch_and_each_error_names_file_and_reason(tmp_path: Path) -> None:
    (tmp_path / "a_good.yml").write_text(GOOD)
    (tmp_path / "b_yaml.yml").write_text("title: [unclosed\n")
    (tmp_path / "c_dupkey.yml").write_text(GOOD.replace("level: high", "level: high\nlevel: low"))
    (tmp_path / "d_unmapped.yml").write_text(GOOD.replace("Image|endswith", "NoSuchField|endswith"))
    (tmp_path / "e_cond.yml").write_text(GOOD.replace("condition: sel", "condition: sel and"))
    (tmp_path / "f_empty.yml").write_text("")
    (tmp_path / "g_good.yaml").write_text(GOOD)
    results = {Path(r.path).name: r for r in convert_paths([tmp_path], "es_lucene")}
    assert results["a_good.yml"].ok and results["g_good.yaml"].ok
    assert results["a_good.yml"].queries and results["a_good.yml"].rule_id.startswith("11111111")
    assert "cannot read rule file" in results["b_yaml.yml"].error and "line 1" in results["b_yaml.yml"].error
    assert "Duplicate key 'level'" in results["c_dupkey.yml"].error
    assert "NoSuchField" in results["d_unmapped.yml"].error
    assert results["e_cond.yml"].errors and not results["e_cond.yml"].queries
    assert results["f_empty.yml"].error == "no Sigma rule in file"
    assert all(Path(r.path).parent == tmp_path for r in results.values())  # every result names its file
    assert "d_unmapped.yml" in results["d_unmapped.yml"].error  # pySigma's message names it too


def test_multi_document_file_gives_one_result_per_rule(tmp_path: Path) -> None:
    second = GOOD.replace("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222")
    (tmp_path / "two.yml").write_text(GOOD + "---\n" + second)
    results = list(convert_paths([tmp_path / "two.yml"], "es_lucene"))
    assert [r.rule_id[:8] for r in results] == ["11111111", "22222222"]
    assert results[0].queries == results[1].queries


def test_cli_json_lines_carry_id_path_logsource_queries_warnings_errors(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(GOOD)
    (tmp_path / "bad.yml").write_text(GOOD.replace("Image|endswith", "NoSuchField|endswith"))
    result = CliRunner().invoke(cli, ["convert", "-t", "es_dsl", "--no-cache", "--json", str(tmp_path)])
    assert result.exit_code == 1
    records = {Path(r["path"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    good, bad = records["good.yml"], records["bad.yml"]
    assert good["id"] == "11111111-1111-4111-8111-111111111111" and good["errors"] == [] and good["warnings"] == []
    assert good["logsource"] == {"product": "windows", "category": "process_creation", "service": None}
    assert "bool" in json.loads(good["queries"][0])["query"]
    assert bad["queries"] == [] and "NoSuchField" in bad["errors"][0]
    assert f"error: {tmp_path / 'bad.yml'}: " in result.stderr
    assert "2 rules in 2 files: 1 converted (0 with warnings), 1 failed" in result.stderr
    assert "converting" not in result.stderr  # no progress bar outside a terminal


def test_cli_output_dir_has_one_file_per_converted_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    (rules / "win").mkdir(parents=True)
    (rules / "win" / "good.yml").write_text(GOOD)
    (rules / "bad.yml").write_text(GOOD.replace("Image|endswith", "NoSuchField|endswith"))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["convert", "-t", "es_lucene", "--no-cache", "-d", str(out), str(rules)])
    assert result.exit_code == 1
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["rules/win/good.txt"]
    lines = list(convert_paths([rules / "win" / "good.yml"], "es_lucene"))[0].queries
    assert (out / "rules" / "win" / "good.txt").read_text() == lines[0] + "\n"


def test_cli_rejects_unknown_format_and_pipeline_as_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(GOOD)
    bad_format = CliRunner().invoke(cli, ["convert", "-t", "es_esql", "-f", "eqlapi", "--no-cache", str(tmp_path)])
    assert bad_format.exit_code == 2 and "'eqlapi' is not a format of es_esql" in bad_format.stderr
    bad_pipeline = CliRunner().invoke(cli, ["convert", "-t", "es_lucene", "-p", "nope", "--no-cache", str(tmp_path)])
    assert bad_pipeline.exit_code == 2 and "unknown pipeline 'nope'" in bad_pipeline.stderr


def test_registry_ids_are_the_backend_identifiers() -> None:
    assert list(backends) == ["es_lucene", "es_eql", "es_dsl", "es_esql", "es_kql"]
    for target in backends:
        assert backends[target].identifier == target


def test_importing_the_cli_loads_neither_pysigma_nor_cluster_clients() -> None:
    """A fully cached `sigma-es convert` must start fast: heavy imports belong inside the commands."""
    code = ("import sys, sigma_es_backend.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('sigma', 'pyparsing', 'elasticsearch', 'opensearchpy', 'yaml')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.strip() == "[]"


def test_cli_converts_the_example_rules_like_the_library(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "examples" / "rules", rules)
    result = CliRunner().invoke(cli, ["convert", "-t", "es_eql", "--no-cache", str(rules)])
    assert result.exit_code == 0, result.stderr
    expected = [q for r in convert_paths([rules], "es_eql") for q in r.queries]
    assert result.stdout.splitlines() == expected and len(expected) == 2


def test_warnings_raised_while_a_rule_converts_are_that_rules_warnings(tmp_path: Path, monkeypatch) -> None:
    import warnings
    from dataclasses import dataclass

    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations.base import PreprocessingTransformation

    from sigma_es_backend.conversion import converter

    @dataclass
    class WarnTransformation(PreprocessingTransformation):
        def apply(self, rule) -> None:
            if "warn" in rule.title:
                warnings.warn(f"rule '{rule.title}': field X passed through unmapped", stacklevel=1)
                self._pipeline.state[converter.WARNINGS_STATE] = ["from the pipeline state"]

    def warning_pipeline() -> ProcessingPipeline:
        return ProcessingPipeline(items=[ProcessingItem(WarnTransformation())])

    monkeypatch.setitem(converter.pipelines, "warning_test", warning_pipeline)
    (tmp_path / "a.yml").write_text(GOOD.replace("title: Cmd", "title: warn Cmd"))
    (tmp_path / "b.yml").write_text(GOOD)
    a, b = convert_paths([tmp_path], "es_lucene", ("ecs", "warning_test"))
    assert a.ok and a.warnings == ["from the pipeline state",
                                   "rule 'warn Cmd child of Word': field X passed through unmapped"]
    assert b.ok and b.warnings == []


@pytest.mark.parametrize("text", [
    GOOD,
    "a: &x {b: [1, 0x1f, 1:30, 2.5, .inf, yes, No, ~, 2024-01-02, '2024-01-02', 2024-01-02T03:04:05Z]}\nc: *x\n",
    "base: &b {k: v}\nm:\n  <<: *b\n  k2: v2\n",  # merge key: left to pySigma's loader, which refuses it
    "s: !!set {a, b}\nt: !!binary aGk=\n",  # explicit tags: left to PyYAML
    "a: 1\n---\n---\nb: [x, {c: d}]\n",  # several documents, an empty one dropped
])
def test_rule_loader_gives_what_pysigmas_loader_gives(text: str) -> None:
    import yaml
    from sigma.rule.base import SigmaYAMLLoader

    from sigma_es_backend.conversion.parsing import parse_rule_documents

    def outcome(load) -> str:
        try:
            return repr(load())  # repr: same types too (date vs str, int vs bool …)
        except yaml.YAMLError as error:
            return f"{type(error).__name__}: {getattr(error, 'problem', error)}"

    expected = outcome(lambda: [d for d in yaml.load_all(text, Loader=SigmaYAMLLoader) if d is not None])
    assert outcome(lambda: parse_rule_documents(text)) == expected


def test_rule_loader_rejects_duplicate_keys_with_pysigmas_message() -> None:
    import yaml

    from sigma_es_backend.conversion.parsing import parse_rule_documents

    with pytest.raises(yaml.YAMLError, match="Duplicate key 'a'"):
        parse_rule_documents("a: 1\nb: 2\na: 3\n")


def test_items_conditioned_on_log_sources_are_evaluated_once_per_log_source(tmp_path: Path) -> None:
    converter = Converter(ConversionSettings.create("es_lucene"))
    item_filter = converter.item_filter
    assert item_filter.enabled
    rule = SigmaCollection.from_yaml(GOOD).rules[0]
    subset = item_filter.items_for(rule)
    assert len(subset) < len(item_filter.all_items) / 10  # the ECS data sources of other log sources drop out
    assert item_filter.items_for(rule) is subset  # once per log source
    (tmp_path / "r.yml").write_text(GOOD)
    (result,) = converter.convert_file(tmp_path / "r.yml")
    unfiltered = Converter(ConversionSettings.create("es_lucene"))
    unfiltered.item_filter.enabled = False
    assert unfiltered.convert_file(tmp_path / "r.yml")[0].as_dict() == result.as_dict()


def test_item_filter_steps_aside_when_a_pipeline_changes_log_sources(tmp_path: Path, monkeypatch) -> None:
    from dataclasses import dataclass

    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import ChangeLogsourceTransformation
    from sigma.processing.transformations.base import PreprocessingTransformation
    from sigma.rule import SigmaLogSource

    from sigma_es_backend.conversion import converter as converter_module

    declared = ProcessingPipeline(items=[ProcessingItem(ChangeLogsourceTransformation(category="process_creation"))])
    monkeypatch.setitem(converter_module.pipelines, "declared_change", lambda: declared)
    assert not Converter(ConversionSettings.create("es_lucene", ("declared_change", "ecs"))).item_filter.enabled

    @dataclass
    class SneakyChange(PreprocessingTransformation):  # changes the log source without saying so
        def apply(self, rule) -> None:
            rule.logsource = SigmaLogSource(category="process_creation", product="windows")

    monkeypatch.setitem(converter_module.pipelines, "sneaky_change",
                        lambda: ProcessingPipeline(items=[ProcessingItem(SneakyChange())]))
    (tmp_path / "r.yml").write_text(GOOD.replace("category: process_creation", "category: image_load"))
    sneaky = Converter(ConversionSettings.create("es_lucene", ("sneaky_change", "ecs")))
    assert sneaky.item_filter.enabled
    (result,) = sneaky.convert_file(tmp_path / "r.yml")
    assert not sneaky.item_filter.enabled  # noticed, and the file was converted again with every item
    plain = Converter(ConversionSettings.create("es_lucene", ("sneaky_change", "ecs")))
    plain.item_filter.enabled = False
    assert plain.convert_file(tmp_path / "r.yml")[0].as_dict() == result.as_dict()
