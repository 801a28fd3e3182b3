"""The SigmaHQ corpus with `-p ecs` and es_lucene: how much converts fully mapped, every failure has a
reason, and every converted category rule carries its data source's event-type condition.

The figure is printed on every run (CI shows it). Floors are the measured values (November 2026 corpus):
they guard against regressions; the issue's 90 % goal also needs backends that match analyzed text fields
(PowerShell script blocks, 178 rules) and Sigma keywords and field references.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sigma_es_backend.conversion import iter_rule_files
from sigma_es_backend.conversion.batch import convert_files
from sigma_es_backend.conversion.settings import ConversionSettings
from sigma_es_backend.pipelines import default_mapping_set

CORPUS_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
CORPUS_RULES = 3754
WINDOWS_FLOOR = 0.89   # measured 0.895 (2,557 of 2,858)
OVERALL_FLOOR = 0.86   # measured 0.870 (3,266 of 3,754) with the non-Windows mappings


@pytest.fixture(scope="module")
def corpus_results(shared_dir: Path) -> list:
    files = list(iter_rule_files([shared_dir / "sigma" / d for d in CORPUS_DIRS]))
    return list(convert_files(files, ConversionSettings.create("es_lucene", ("ecs",)), jobs=2))


def _label(result) -> str:
    return "/".join(v for v in (result.product, result.category, result.service) if v) or "(none)"


def test_corpus_figure(corpus_results, capsys) -> None:
    rules = [r for r in corpus_results if r.rule_id is not None or r.title is not None]
    assert len(rules) == CORPUS_RULES
    fully = [r for r in rules if r.ok and not r.warnings]
    by_product: dict[str, list[int]] = {}
    for r in rules:
        counts = by_product.setdefault(r.product or "(none)", [0, 0])
        counts[0 if (r.ok and not r.warnings) else 1] += 1
    windows = by_product["windows"]
    with capsys.disabled():
        print(f"\ncorpus -p ecs (es_lucene): {len(fully)}/{len(rules)} = {len(fully) / len(rules):.3f} fully mapped; "
              f"windows {windows[0]}/{sum(windows)} = {windows[0] / sum(windows):.3f}")
        print("  by product (converted/failed): " + ", ".join(
            f"{p} {ok}/{failed}" for p, (ok, failed) in sorted(by_product.items(), key=lambda kv: -sum(kv[1]))))
    assert windows[0] / sum(windows) >= WINDOWS_FLOOR
    assert len(fully) / len(rules) >= OVERALL_FLOOR


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
