"""Detection output formats as backend mixins: a backend lists the mixin in its bases and the format
names in `formats` (`{**base_formats, **KIBANA_FORMATS}`); pySigma finds `finalize_query_<format>`."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, ClassVar, Literal

from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationType
from sigma.rule import SigmaRule

from sigma_es_backend.backends.correlation import Correlation, CorrelationBackendMixin, correlation_error
from sigma_es_backend.backends.lucene_filters import LuceneWithFilters
from sigma_es_backend.outputs.context import DetectionOptions, correlation_context, detection_context
from sigma_es_backend.outputs.kibana import THRESHOLD_MAX_FIELDS, KibanaQuery, Threshold, build_kibana_rule
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

    def kibana_query_and_filters(self, rule: SigmaRule, query: Any, index: int,
                                 state: ConversionState) -> tuple[str, tuple[dict[str, Any], ...]]:
        """The rule's query text and its Kibana filters (es_lucene: field references, see lucene_filters)."""
        return self.finalize_query_default(rule, query, index, state), ()  # type: ignore[attr-defined]

    def kibana_rule(self, rule: SigmaRule, query: Any, index: int, state: ConversionState) -> dict[str, Any]:
        text, filters = self.kibana_query_and_filters(rule, query, index, state)
        ctx = detection_context(rule, state, self.detection_options())
        return build_kibana_rule(ctx, self.kibana_query, text, filters=filters).to_dict()

    def finalize_query_kibana_rule(self, rule: SigmaRule, query: Any, index: int, state: ConversionState) -> str:
        return json.dumps(self.kibana_rule(rule, query, index, state), indent=2, ensure_ascii=False)

    def finalize_output_kibana_rule(self, queries: list[str]) -> list[str]:
        return list(queries)

    def finalize_query_kibana_ndjson(self, rule: SigmaRule, query: Any, index: int, state: ConversionState) -> str:
        return json.dumps(self.kibana_rule(rule, query, index, state), separators=(",", ":"), ensure_ascii=False)

    def finalize_output_kibana_ndjson(self, queries: list[str]) -> list[str]:
        return list(queries)

    # --- correlation rules (backends with CorrelationBackendMixin) ---------------------------------
    # How the rule's time range covers a correlation: "window" (an aggregation over exactly the
    # timespan ending at each run) or "sequences" (EQL: the run's interval plus the timespan).
    kibana_correlation_range: ClassVar[Literal["window", "sequences"]] = "window"

    def kibana_correlation(self, correlation: Correlation) -> tuple[str, Threshold | None]:
        """The rule's query (and threshold, for threshold rules) for a correlation."""
        return self.correlation_query(correlation), None  # type: ignore[attr-defined]

    def kibana_correlation_rule(self, correlation: Correlation) -> dict[str, Any]:
        options = self.detection_options()
        schedule = (options.schedule.for_sequences(correlation.seconds) if self.kibana_correlation_range == "sequences"
                    else options.schedule.for_window(correlation.seconds))
        ctx = correlation_context(correlation, replace(options, schedule=schedule))
        query, threshold = self.kibana_correlation(correlation)
        return build_kibana_rule(ctx, self.kibana_query, query, threshold).to_dict()

    def finalize_correlation_kibana_rule(self, correlation: Correlation) -> str:
        return json.dumps(self.kibana_correlation_rule(correlation), indent=2, ensure_ascii=False)

    def finalize_correlation_kibana_ndjson(self, correlation: Correlation) -> str:
        return json.dumps(self.kibana_correlation_rule(correlation), separators=(",", ":"), ensure_ascii=False)


class OpenSearchMonitorFormats(_DetectionFormatBase):
    """opensearch_monitor: a string query (query_string) → document-level monitor by default
    (`-O monitor_type=query_level` for a window-bounded query-level one); a DSL query → query-level."""

    def monitor(self, rule: SigmaRule, query: Any, index: int, state: ConversionState) -> dict[str, Any]:
        if getattr(self, "engine", "opensearch") != "opensearch":
            raise ValueError("opensearch_monitor runs on OpenSearch: drop -O engine=elasticsearch")
        requested = self.backend_options.get("monitor_type")
        if requested is not None and requested not in MONITOR_TYPES:
            raise ValueError(f"monitor_type '{requested}' is not one of {', '.join(MONITOR_TYPES)}")
        query = self.monitor_query(query)
        monitor_query = MonitorQuery(query_string=query) if isinstance(query, str) else MonitorQuery(dsl=query)
        ctx = detection_context(rule, state, self.detection_options())
        return build_monitor(ctx, monitor_query, MONITOR_TYPES.get(requested) if requested else None)

    def monitor_query(self, query: Any) -> Any:
        """The converted query as a monitor runs it: a query_string, or a Query DSL query."""
        return query

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


class KibanaThresholdCorrelations(CorrelationBackendMixin):
    """Query languages without aggregations (Lucene, KQL): a correlation rule has no query of its own,
    but an `event_count` with a lower bound is exactly a Kibana threshold rule (at least N events per
    group-by combination within one execution's range = the timespan). Put before KibanaRuleFormats."""

    def correlation_query(self, correlation: Correlation) -> str:
        raise correlation_error(self.identifier, correlation.rule, "correlation rules need aggregations or "
                                "sequences, which this query language cannot express (use es_dsl, es_eql or "
                                "es_esql, or -f kibana_rule for an event_count as a Kibana threshold rule)")

    def kibana_correlation(self, correlation: Correlation) -> tuple[str, Threshold | None]:
        rule, kind = correlation.rule, correlation.type.name.lower()
        if correlation.type == SigmaCorrelationType.VALUE_COUNT:
            raise correlation_error(self.identifier, rule, "value_count: a Kibana threshold rule counts distinct "
                                    "values with the cardinality aggregation (HyperLogLog++ over value hashes: "
                                    "approximate, two values with the same hash count once); use es_esql "
                                    "-f kibana_rule (exact distinct count)")
        if correlation.type != SigmaCorrelationType.EVENT_COUNT:
            raise correlation_error(self.identifier, rule, f"{kind}: a Kibana threshold rule only counts events "
                                    "(use es_eql or es_esql -f kibana_rule)")
        if correlation.operator not in (">=", ">") or correlation.count != int(correlation.count):
            raise correlation_error(self.identifier, rule, f"event_count condition '{correlation.operator} "
                                    f"{correlation.count}': a Kibana threshold rule alerts on 'at least N events' "
                                    "only (use es_esql -f kibana_rule)")
        if correlation.has_aliases:
            raise correlation_error(self.identifier, rule, "aliases: a threshold rule groups every event by the "
                                    "same fields (use es_eql)")
        if len(correlation.group_by) > THRESHOLD_MAX_FIELDS:
            raise correlation_error(self.identifier, rule, f"{len(correlation.group_by)} group-by fields: a "
                                    f"threshold rule takes at most {THRESHOLD_MAX_FIELDS}")
        needed = int(correlation.count) + (1 if correlation.operator == ">" else 0)
        if any(isinstance(ref.query, LuceneWithFilters) for ref in correlation.rules):
            # es_lucene's rule with a field reference (query_string + script filter): one threshold rule's
            # query cannot hold the OR of such rules
            raise correlation_error(self.identifier, rule, "a referenced rule compares two fields (fieldref), which "
                                    "a Lucene threshold rule's query cannot express (use es_esql -f kibana_rule)")
        queries = [str(ref.query) for ref in correlation.rules]
        or_token = self.or_token
        query = queries[0] if len(queries) == 1 else f" {or_token} ".join(f"({q})" for q in queries)
        # Kibana's threshold value is at least 1; a group exists only with an event (README), so ">= 0" is ">= 1".
        return query, Threshold(correlation.group_by, max(needed, 1))
