"""OpenSearch Alerting monitors (`_plugins/_alerting/monitors`) from a DetectionContext and a query.

- A query_string (es_lucene) becomes a document-level monitor: Alerting keeps a per-shard checkpoint and
  evaluates every new document once, so each matching event makes one finding/alert and is never
  evaluated again on the next run.
- A Query DSL query (es_dsl) cannot go into a document-level monitor (its queries are query_string), so
  it becomes a query-level monitor whose search is bounded to its own run window,
  `[{{period_end}} - interval, {{period_end}})`: consecutive runs tile time exactly and an event is
  counted by one run only (an event indexed after its window has passed is not seen — documented).
- A correlation rule (es_dsl) becomes a bucket-level monitor: its search aggregates the referenced
  rules' events over the timespan ending at the run, `[{{period_end}} - timespan, {{period_end}})`, by
  the group-by fields (a composite aggregation `groups`), and its trigger's bucket selector keeps the
  groups satisfying the condition: one alert per such group. Runs come at most a timespan apart.
Alerting drops unknown top-level fields: our metadata lives in `ui_metadata.sigma_es`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sigma_es_backend.backends.common import query_string_query
from sigma_es_backend.outputs.context import MANAGED_BY, DetectionContext, content_hash
from sigma_es_backend.outputs.levels import level_mapping

MonitorType = Literal["doc_level_monitor", "query_level_monitor", "bucket_level_monitor"]
METADATA_KEY = "sigma_es"
TIMESTAMP_FIELD = "@timestamp"


@dataclass(frozen=True)
class MonitorQuery:
    """Exactly one of: a Lucene query_string, or a Query DSL query object."""

    query_string: str | None = None
    dsl: dict[str, Any] | None = None

    def as_dsl(self) -> dict[str, Any]:
        if self.dsl is not None:
            return self.dsl
        return query_string_query(self.query_string)


def _schedule(ctx: DetectionContext) -> dict[str, Any]:
    seconds = ctx.options.schedule.interval_seconds
    if seconds % 60:
        raise ValueError(f"monitor interval must be whole minutes, not {ctx.options.schedule.interval}")
    return {"period": {"interval": seconds // 60, "unit": "MINUTES"}}


def _ui_metadata(ctx: DetectionContext) -> dict[str, Any]:
    return {METADATA_KEY: {
        "managed_by": MANAGED_BY, "rule_id": ctx.rule_id, "title": ctx.title, "level": ctx.level,
        "tags": list(ctx.tags), "references": list(ctx.references),
        "false_positives": list(ctx.false_positives), "author": list(ctx.authors), "license": ctx.license,
        "data_source": ctx.data_source_id,
        "related_integrations": [{"package": i.package, **({"integration": i.integration} if i.integration else {}),
                                  "version": i.version} for i in ctx.integrations],
        "required_fields": [{"name": f.name, "type": f.type, "ecs": f.ecs} for f in ctx.required_fields],
        "setup": ctx.setup_guide, "note": ctx.note,
    }}


def window_filter(interval: str) -> dict[str, Any]:
    """The run's own window: from period_end - interval (inclusive) to period_end (exclusive)."""
    return {"range": {TIMESTAMP_FIELD: {"gte": f"{{{{period_end}}}}||-{interval}", "lt": "{{period_end}}",
                                        "format": "epoch_millis"}}}


def correlation_window(seconds: int) -> dict[str, Any]:
    """The timespan ending at the run: [period_end - timespan, period_end), as a range on @timestamp."""
    return {"gte": f"{{{{period_end}}}}||-{seconds}s", "lt": "{{period_end}}", "format": "epoch_millis"}


@dataclass(frozen=True)
class BucketCondition:
    """A bucket-level trigger's condition (Alerting's bucket selector extension): `script` runs on each
    bucket of the multi-bucket aggregation at `parent_bucket_path`, reading the `buckets_path` values."""

    parent_bucket_path: str
    buckets_path: dict[str, str]
    script: str

    def to_dict(self) -> dict[str, Any]:
        return {"buckets_path": dict(self.buckets_path), "parent_bucket_path": self.parent_bucket_path,
                "script": {"source": self.script, "lang": "painless"}}


def build_bucket_monitor(ctx: DetectionContext, search: dict[str, Any], condition: BucketCondition,
                         timespan_seconds: int) -> dict[str, Any]:
    """A bucket-level monitor over `search` (whose range is the timespan ending at the run): it runs
    every interval, lowered to the timespan (whole minutes) so consecutive windows leave no gap."""
    interval = min(ctx.options.schedule.interval_seconds, timespan_seconds) // 60 * 60
    if interval < 60:
        raise ValueError(f"a correlation timespan of {timespan_seconds}s is shorter than a minute, the shortest "
                         "monitor interval: windows between runs would never be searched")
    monitor: dict[str, Any] = {
        "type": "monitor", "monitor_type": "bucket_level_monitor", "name": ctx.title,
        "enabled": ctx.options.enabled, "schedule": {"period": {"interval": interval // 60, "unit": "MINUTES"}},
        "inputs": [{"search": {"indices": list(ctx.index), "query": search}}],
        "triggers": [{"bucket_level_trigger": {
            "name": ctx.title, "severity": level_mapping(ctx.level).opensearch_severity,
            "condition": condition.to_dict(), "actions": []}}],
        "ui_metadata": _ui_metadata(ctx),
    }
    monitor["ui_metadata"][METADATA_KEY]["hash"] = content_hash(monitor)
    return monitor


def build_monitor(ctx: DetectionContext, query: MonitorQuery, monitor_type: MonitorType | None = None,
                  ) -> dict[str, Any]:
    if monitor_type is None:
        monitor_type = "doc_level_monitor" if query.query_string is not None else "query_level_monitor"
    severity = level_mapping(ctx.level).opensearch_severity
    monitor: dict[str, Any] = {
        "type": "monitor", "monitor_type": monitor_type, "name": ctx.title, "enabled": ctx.options.enabled,
        "schedule": _schedule(ctx),
    }
    if monitor_type == "doc_level_monitor":
        if query.query_string is None:
            raise ValueError("a document-level monitor takes a query_string query (es_lucene), not Query DSL")
        monitor["inputs"] = [{"doc_level_input": {
            "description": ctx.description, "indices": list(ctx.index),
            "queries": [{"id": ctx.rule_id, "name": ctx.rule_id, "query": query.query_string,
                         "tags": [MANAGED_BY, f"level-{ctx.level}"]}],
        }}]
        monitor["triggers"] = [{"document_level_trigger": {
            "name": ctx.title, "severity": severity,
            "condition": {"script": {"source": f"query[id={ctx.rule_id}]", "lang": "painless"}},
            "actions": [],
        }}]
    else:
        body = {"size": min(ctx.options.max_signals, 10000), "query": {"bool": {"filter": [
            window_filter(ctx.options.schedule.interval), query.as_dsl()]}}}
        monitor["inputs"] = [{"search": {"indices": list(ctx.index), "query": body}}]
        monitor["triggers"] = [{"query_level_trigger": {
            "name": ctx.title, "severity": severity,
            "condition": {"script": {"source": "ctx.results[0].hits.total.value > 0", "lang": "painless"}},
            "actions": [],
        }}]
    monitor["ui_metadata"] = _ui_metadata(ctx)
    monitor["ui_metadata"][METADATA_KEY]["hash"] = content_hash(monitor)
    return monitor
