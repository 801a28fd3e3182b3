"""Run rules against their samples in a live cluster: per rule an isolated index with production ECS
field types, each target's query run there (es_eql evaluated with the `eql` package), hits compared
with the sample's match_count. The index is deleted afterwards, whatever happened."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from opensearchpy import OpenSearch
from opensearchpy.exceptions import OpenSearchException
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from sigma_es_backend.backends import backends
from sigma_es_backend.conversion import iter_rule_files
from sigma_es_backend.events.readers import Record, read_records
from sigma_es_backend.harness.connection import query_limits
from sigma_es_backend.harness.eql_eval import eql_hits
from sigma_es_backend.harness.ingest import ingest
from sigma_es_backend.harness.samples import SampleSet, SampleTest, index_samples
from sigma_es_backend.pipelines import ecs_pipeline

HARNESS_TARGETS = ("es_lucene", "es_dsl", "es_eql")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_HITS = 10000


@dataclass
class TargetOutcome:
    target: str
    status: str  # pass | fail | error
    hits: int | None = None
    expected: int | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.status == "fail":
            return f"fail (got {self.hits}, expected {self.expected})"
        if self.status == "error":
            return f"error ({self.reason})"
        return "pass"


@dataclass
class RuleReport:
    path: str
    rule_id: str | None
    title: str | None
    status: str  # tested | no samples | error
    samples: str | None = None
    reason: str | None = None
    outcomes: list[TargetOutcome] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "tested" and all(o.status == "pass" for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Target:
    name: str
    queries: list[Any] | None
    error: str | None


def _convert(document: dict[str, Any], target: str, options: dict[str, Any]) -> _Target:
    # A fresh rule per target: pySigma's pipeline rewrites the rule's field names in place.
    rule = SigmaCollection.from_dicts([document], collect_errors=True).rules[0]
    backend = backends[target](processing_pipeline=ecs_pipeline(), collect_errors=True, **options)
    # es_lucene as a search body: its query_string with lenient false, and a field reference as a script
    # filter beside it (backends/lucene_filters.py), as dsl_query writes it for every other client.
    output_format = "dsl_query" if target == "es_lucene" else "default"
    try:
        queries = backend.convert(SigmaCollection([rule]), output_format)
    except SigmaError as error:
        return _Target(target, None, str(error))
    except Exception as error:  # noqa: BLE001 - a backend crash is this rule's error, not the batch's
        return _Target(target, None, f"{type(error).__name__}: {error}")
    if backend.errors:
        return _Target(target, None, "; ".join(str(e) for _, e in backend.errors))
    return _Target(target, list(queries), None)


# In a shared index each test's documents carry this label, and every query is filtered on it.
# `labels` is ECS's free-form keyword object; no rule mapping targets it.
SAMPLE_LABEL = "sigma_es_sample"


@dataclass(frozen=True)
class _Slot:
    """Where a test's documents live: an index of their own, or a labelled slice of a shared index."""

    index: str
    label: str | None = None

    def scope(self, query: dict[str, Any]) -> dict[str, Any]:
        if self.label is None:
            return query
        return {"bool": {"must": [query], "filter": [{"term": {f"labels.{SAMPLE_LABEL}": self.label}}]}}


def _search_ids(client: OpenSearch, slot: _Slot, query: dict[str, Any]) -> set[str]:
    response = client.search(index=slot.index, body={"query": slot.scope(query), "size": MAX_HITS,
                                                     "_source": False})
    return {hit["_id"] for hit in response["hits"]["hits"]}


def _hits(client: OpenSearch, slot: _Slot, target: _Target, documents: dict[str, dict[str, Any]]) -> int:
    """Distinct matching documents over the rule's queries (a rule may convert to several)."""
    ids: set[str] = set()
    for query in target.queries or []:
        if target.name in ("es_lucene", "es_dsl"):
            body = json.loads(query) if isinstance(query, str) else query
            ids |= _search_ids(client, slot, body["query"])
        elif target.name == "es_eql":
            ids |= eql_hits(query, documents)
        else:
            raise ValueError(f"target {target.name} cannot run in the harness")
    return len(ids)


def _run_test(client: OpenSearch, test: SampleTest, targets: list[_Target], index_prefix: str,
              flavor: str, shared_index: str | None = None) -> dict[str, TargetOutcome]:
    if test.path is None:
        return {t.name: TargetOutcome(t.name, "error", expected=test.match_count,
                                      reason=f"sample file {test.declared_path} not found") for t in targets}
    records = list(read_records(test.path))
    bad = [r for r in records if r.document is None]
    if bad:
        reason = f"{len(bad)} unreadable record(s), first {bad[0].location}: {bad[0].error}"
        return {t.name: TargetOutcome(t.name, "error", expected=test.match_count, reason=reason) for t in targets}
    key = uuid.uuid4().hex[:12]
    slot = _Slot(shared_index, key) if shared_index else _Slot(f"{index_prefix}-{key}")
    outcomes: dict[str, TargetOutcome] = {}
    try:
        ids = [f"{key}-{n}" for n in range(len(records))]
        loaded = ingest(client, slot.index, _labelled(records, slot.label), flavor=flavor, ids=ids)
        if loaded.failed:
            location, reason = loaded.failures[0]
            message = f"{loaded.failed} record(s) rejected by the cluster, first {location}: {reason}"
            return {t.name: TargetOutcome(t.name, "error", expected=test.match_count, reason=message)
                    for t in targets}
        documents = {doc_id: r.document for doc_id, r in zip(ids, records, strict=True) if r.document}
        for target in targets:
            if target.error is not None:
                outcomes[target.name] = TargetOutcome(target.name, "error", expected=test.match_count,
                                                      reason=target.error)
                continue
            try:
                hits = _hits(client, slot, target, documents)
            except (OpenSearchException, ValueError, KeyError) as error:
                outcomes[target.name] = TargetOutcome(target.name, "error", expected=test.match_count,
                                                      reason=f"query failed: {error}"[:500])
                continue
            status = "pass" if hits == test.match_count else "fail"
            outcomes[target.name] = TargetOutcome(target.name, status, hits, test.match_count)
    finally:
        if slot.label is None:
            client.indices.delete(index=slot.index, ignore_unavailable=True)
    return outcomes


def _labelled(records: list[Record], label: str | None) -> list[Record]:
    if label is None:
        return records
    return [Record(r.location, {**r.document, "labels": {**r.document.get("labels", {}), SAMPLE_LABEL: label}})
            if r.document is not None else r for r in records]


def _merge(per_test: list[dict[str, TargetOutcome]], test_names: list[str]) -> list[TargetOutcome]:
    """One outcome per target over a rule's tests: the first that did not pass, else a pass."""
    merged: dict[str, TargetOutcome] = {}
    for name, outcomes in zip(test_names, per_test, strict=True):
        for target, outcome in outcomes.items():
            if target not in merged or (merged[target].status == "pass" and outcome.status != "pass"):
                if outcome.status != "pass" and len(test_names) > 1:
                    outcome.reason = f"{name}: {outcome.reason}" if outcome.reason else name
                merged[target] = outcome
    return list(merged.values())


def _rule_documents(paths: Iterable[Path]) -> Iterator[tuple[Path, dict[str, Any] | None, str | None]]:
    for path in iter_rule_files(paths):
        try:
            documents = [d for d in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_LOADER) if d]
        except (OSError, yaml.YAMLError) as error:
            yield path, None, f"cannot read rule file: {error}"
            continue
        for document in documents:
            yield path, document, None


def run(client: OpenSearch, rule_paths: Iterable[Path], samples_dir: Path,
        targets: Iterable[str] = HARNESS_TARGETS, engine: str = "opensearch", index_prefix: str = "sigma-es-test",
        on_report: Callable[[RuleReport], Any] | None = None, shared_index: bool = False) -> list[RuleReport]:
    """Test every rule under `rule_paths` that has samples under `samples_dir`; one report per rule.

    Rules are converted for the cluster: on OpenSearch with its effective query length and clause limits.
    Each test gets an index of its own; with `shared_index` all tests share one index (created and
    deleted here) and each query is filtered on the test's label: the same hits, far fewer index
    creations (what makes the 122 SigmaHQ sample sets fast enough for CI)."""
    samples = index_samples(samples_dir)
    reports: list[RuleReport] = []
    # converted for this cluster: its engine and (OpenSearch) its query limits
    limits = query_limits(client) if engine == "opensearch" else {}
    options = {"es_lucene": {"engine": engine, **limits}, "es_dsl": {"engine": engine, **limits}}
    shared = f"{index_prefix}-shared-{uuid.uuid4().hex[:12]}" if shared_index else None
    try:
        for path, document, read_error in _rule_documents(rule_paths):
            if document is None:
                report = RuleReport(str(path), None, None, "error", reason=read_error)
            else:
                report = _test_rule(client, path, document, samples, list(targets), options, index_prefix,
                                    engine, shared)
            reports.append(report)
            if on_report is not None:
                on_report(report)
    finally:
        if shared is not None:
            client.indices.delete(index=shared, ignore_unavailable=True)
    return reports


def _test_rule(client: OpenSearch, path: Path, document: dict[str, Any], samples: dict[str, SampleSet],
               targets: list[str], options: dict[str, dict[str, Any]], index_prefix: str,
               engine: str, shared_index: str | None) -> RuleReport:
    rule_id = str(document.get("id")) if document.get("id") else None
    report = RuleReport(str(path), rule_id, document.get("title"), "no samples")
    sample_set = samples.get(rule_id or "")
    if sample_set is None:
        if document.get("regression_tests_path"):
            report.reason = f"declared {document['regression_tests_path']}, not under the samples directory"
        return report
    report.samples = str(sample_set.info)
    if not sample_set.tests:
        report.reason = "info.yml lists no tests"
        return report
    try:
        rule = SigmaCollection.from_dicts([document], collect_errors=True).rules[0]
    except (SigmaError, IndexError) as error:
        report.status, report.reason = "error", str(error)
        return report
    if rule.errors or not isinstance(rule, SigmaRule):
        report.status = "error"
        report.reason = "; ".join(str(e) for e in rule.errors) or "correlation rules are not supported yet"
        return report
    converted = [_convert(document, target, options.get(target, {})) for target in targets]
    report.status = "tested"
    per_test = [_run_test(client, test, converted, index_prefix, engine, shared_index)
                for test in sample_set.tests]
    report.outcomes = _merge(per_test, [t.name for t in sample_set.tests])
    return report


@dataclass(frozen=True)
class Summary:
    tested: int
    passed: int
    no_samples: int
    errors: int
    per_target: dict[str, dict[str, int]]

    @property
    def ok(self) -> bool:
        return self.passed == self.tested and self.errors == 0


def summarize(reports: list[RuleReport]) -> Summary:
    per_target: dict[str, dict[str, int]] = {}
    for report in reports:
        for outcome in report.outcomes:
            counts = per_target.setdefault(outcome.target, {"pass": 0, "fail": 0, "error": 0})
            counts[outcome.status] += 1
    tested = [r for r in reports if r.status == "tested"]
    return Summary(len(tested), sum(r.passed for r in tested), sum(r.status == "no samples" for r in reports),
                   sum(r.status == "error" for r in reports), per_target)
