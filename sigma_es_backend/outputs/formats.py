"""Detection output formats as backend mixins: a backend lists the mixin in its bases and the format
names in `formats` (`{**base_formats, **KIBANA_FORMATS}`); pySigma finds `finalize_query_<format>`."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from sigma.conversion.state import ConversionState
from sigma.rule import SigmaRule

from sigma_es_backend.outputs.context import DetectionOptions, detection_context
from sigma_es_backend.outputs.kibana import KibanaQuery, build_kibana_rule
from sigma_es_backend.outputs.opensearch import MonitorQuery, MonitorType, build_monitor

KIBANA_FORMATS: dict[str, str] = {
    "kibana_rule": "Kibana detection rule (JSON, detection engine API), one per rule",
    "kibana_ndjson": "Kibana detection rules as NDJSON for the rules _import API",
}
MONITOR_FORMATS: dict[str, str] = {
    "opensearch_monitor": "OpenSearch Alerting monitor (JSON), one per rule",
}
MONITOR_TYPES: dict[str, MonitorType] = {"doc_level": "doc_level_monitor", "query_level": "query_level_monitor"}


class _DetectionFormatBase:
    backend_options: dict[str, Any]

    def detection_options(self) -> DetectionOptions:
        return DetectionOptions.from_backend_options(self.backend_options)


class KibanaRuleFormats(_DetectionFormatBase):
    """kibana_rule / kibana_ndjson: the backend's default query text inside a Kibana rule."""

    kibana_query: ClassVar[KibanaQuery]

    def kibana_rule(self, rule: SigmaRule, query: Any, index: int, state: ConversionState) -> dict[str, Any]:
        text = self.finalize_query_default(rule, query, index, state)  # type: ignore[attr-defined]
        ctx = detection_context(rule, state, self.detection_options())
        return build_kibana_rule(ctx, self.kibana_query, text).to_dict()

    def finalize_query_kibana_rule(self, rule: SigmaRule, query: Any, index: int, state: ConversionState) -> str:
        return json.dumps(self.kibana_rule(rule, query, index, state), indent=2, ensure_ascii=False)

    def finalize_output_kibana_rule(self, queries: list[str]) -> list[str]:
        return list(queries)

    def finalize_query_kibana_ndjson(self, rule: SigmaRule, query: Any, index: int, state: ConversionState) -> str:
        return json.dumps(self.kibana_rule(rule, query, index, state), separators=(",", ":"), ensure_ascii=False)

    def finalize_output_kibana_ndjson(self, queries: list[str]) -> list[str]:
        return list(queries)


class OpenSearchMonitorFormats(_DetectionFormatBase):
    """opensearch_monitor: a string query (query_string) → document-level monitor by default
    (`-O monitor_type=query_level` for a window-bounded query-level one); a DSL query → query-level."""

    def monitor(self, rule: SigmaRule, query: Any, index: int, state: ConversionState) -> dict[str, Any]:
        if getattr(self, "engine", "opensearch") != "opensearch":
            raise ValueError("opensearch_monitor runs on OpenSearch: drop -O engine=elasticsearch")
        requested = self.backend_options.get("monitor_type")
        if requested is not None and requested not in MONITOR_TYPES:
            raise ValueError(f"monitor_type '{requested}' is not one of {', '.join(MONITOR_TYPES)}")
        monitor_query = MonitorQuery(query_string=query) if isinstance(query, str) else MonitorQuery(dsl=query)
        ctx = detection_context(rule, state, self.detection_options())
        return build_monitor(ctx, monitor_query, MONITOR_TYPES.get(requested) if requested else None)

    def finalize_query_opensearch_monitor(self, rule: SigmaRule, query: Any, index: int,
                                          state: ConversionState) -> str:
        return json.dumps(self.monitor(rule, query, index, state), indent=2, ensure_ascii=False)

    def finalize_output_opensearch_monitor(self, queries: list[str]) -> list[str]:
        return list(queries)

    def convert_rule(self, rule: SigmaRule, output_format: str | None = None, *args: Any, **kwargs: Any) -> Any:
        # A monitor's query runs on OpenSearch: backends with engine-specific output (es_lucene) must
        # build it for OpenSearch, so the engine option defaults to it for this format.
        if output_format in MONITOR_FORMATS:
            self.backend_options.setdefault("engine", "opensearch")
        return super().convert_rule(rule, output_format, *args, **kwargs)  # type: ignore[misc]
