"""The SigmaHQ corpus with `-p ecs`: how much the pipeline maps fully, how much es_lucene and es_esql
convert, every failure has a reason, and every converted category rule carries its event-type condition.

Two figures, printed on every run (CI shows them): *fully mapped* is the pipeline's (every field and the
log source mapped, no passthrough warning; `RuleResult.fully_mapped`), *converted* the target's. A rule
fully mapped but not converted is one the backend cannot express (es_lucene: patterns on the analyzed
PowerShell script block text field). Floors are the measured values (November 2026 corpus): they guard
against regressions.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sigma_es_backend.conversion import iter_rule_files
from sigma_es_backend.conversion.batch import convert_files
from sigma_es_backend.conversion.report import CoverageReport
from sigma_es_backend.conversion.settings import ConversionSettings
from sigma_es_backend.pipelines import default_mapping_set

CORPUS_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
CORPUS_RULES = 3754
FULLY_MAPPED_FLOOR = 0.90  # issue 4's goal; measured 0.938 (3,522 of 3,754 fully mapped by the pipeline)
WINDOWS_FLOOR = 0.89   # es_lucene converted, measured 0.895 (2,557 of 2,858)
OVERALL_FLOOR = 0.86   # es_lucene converted, measured 0.870 (3,266 of 3,754)
ESQL_FLOOR = 0.91      # es_esql converted, measured 0.920 (3,452 of 3,754): it matches text fields exactly


def _convert(shared_dir: Path, target: str) -> list:
    files = list(iter_rule_files([shared_dir / "sigma" / d for d in CORPUS_DIRS]))
    return list(convert_files(files, ConversionSettings.create(target, ("ecs",)), jobs=2))


@pytest.fixture(scope="module")
def corpus_results(shared_dir: Path) -> list:
    return _convert(shared_dir, "es_lucene")


@pytest.fixture(scope="module")
def esql_corpus_results(shared_dir: Path) -> list:
    return _convert(shared_dir, "es_esql")


def _report(target: str, results: list) -> CoverageReport:
    report = CoverageReport(target, ("ecs",))
    for r in results:
        if r.rule_id is not None or r.title is not None:
            report.add(r)
    return report


def _label(result) -> str:
    return "/".join(v for v in (result.product, result.category, result.service) if v) or "(none)"


def test_corpus_figure(corpus_results, esql_corpus_results, capsys) -> None:
    lucene, esql = _report("es_lucene", corpus_results), _report("es_esql", esql_corpus_results)
    assert lucene.overall.rules == esql.overall.rules == CORPUS_RULES
    windows = next(t for t in lucene.totals("product") if t.group == "windows")
    with capsys.disabled():
        print(f"\ncorpus -p ecs: {lucene.overall.fully_mapped}/{CORPUS_RULES} = "
              f"{lucene.overall.fully_mapped / CORPUS_RULES:.3f} fully mapped by the pipeline; converted: "
              f"es_lucene {lucene.overall.converted} = {lucene.overall.converted / CORPUS_RULES:.3f} "
              f"(windows {windows.converted}/{windows.rules} = {windows.converted / windows.rules:.3f}), "
              f"es_esql {esql.overall.converted} = {esql.overall.converted / CORPUS_RULES:.3f}")
        print("  by product (rules: fully mapped / es_lucene / es_esql converted): " + ", ".join(
            f"{t.group} {t.rules}: {t.fully_mapped}/{t.converted}/{e.converted}"
            for t, e in zip(lucene.totals("product"), esql.totals("product"), strict=True)))
    # The pipeline's figure does not depend on the target.
    assert [(t.group, t.fully_mapped) for t in lucene.totals("product")] == [
        (t.group, t.fully_mapped) for t in esql.totals("product")]
    assert lucene.overall.fully_mapped / CORPUS_RULES >= FULLY_MAPPED_FLOOR
    assert windows.converted / windows.rules >= WINDOWS_FLOOR
    assert lucene.overall.converted / CORPUS_RULES >= OVERALL_FLOOR
    assert esql.overall.converted / CORPUS_RULES >= ESQL_FLOOR


def test_fully_mapped_failures_are_the_backends(corpus_results) -> None:
    # A rule the pipeline mapped fully fails only with the backend's own "cannot express" error.
    assert [r.path for r in corpus_results if r.fully_mapped and not r.ok
            and not all(e.startswith("es_lucene: ") for e in r.errors)] == []
    assert sum(r.fully_mapped and not r.ok for r in corpus_results) > 0


def test_every_failure_names_its_reason(corpus_results) -> None:
    assert [r.path for r in corpus_results if not r.ok and not any(e.strip() for e in r.errors)] == []


def test_pipeline_failures_name_rule_and_log_source(corpus_results) -> None:
    # Mapping failures (field or log source) name the rule, and the field's data source or the log source.
    mapping_errors = [e for r in corpus_results for e in r.errors if "ECS mapping" in e or "log source" in e]
    assert mapping_errors
    assert [e for e in mapping_errors if not e.startswith("rule '")] == []
    assert [e for e in mapping_errors if "log source" not in e] == []


def test_every_converted_category_rule_carries_its_event_filter(corpus_results) -> None:
    by_id = {ds.id: ds for ds in default_mapping_set().data_sources}
    missing: list[str] = []
    checked = Counter()
    for r in corpus_results:
        if not (r.ok and r.category):
            continue
        ds = by_id[r.data_source["id"]]
        assert ds.filter, f"{ds.id} ({_label(r)}) has no event filter"
        query = r.queries[0]
        # es_lucene writes each filter value as field:value; every filter field must be there.
        missing += [f"{r.path}: {name}" for name in ds.filter if f"{name}:" not in query]
        checked[ds.id] += 1
    assert missing == []
    assert sum(checked.values()) > 2000


def test_every_windows_log_source_of_the_corpus_is_mapped_or_says_why(corpus_results) -> None:
    unexplained = {_label(r) for r in corpus_results if r.product == "windows" and not r.ok
                   and any("has no ECS data source mapping" in e for e in r.errors)}
    # product: windows alone (one rule, EventID only) names no event log: no data source can be chosen.
    assert unexplained <= {"windows"}
