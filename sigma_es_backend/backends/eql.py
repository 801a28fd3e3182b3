"""es_eql: Event Query Language for Elasticsearch.

`:` and `like~`/`regex~` are EQL's case-insensitive operators, `==`/`like`/`regex` the cased ones.
"""

from __future__ import annotations

import json
from typing import ClassVar, Literal

from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationType
from sigma.rule import SigmaRule

from sigma_es_backend.backends import escaping
from sigma_es_backend.backends.common import index_patterns
from sigma_es_backend.backends.correlation import Correlation, CorrelationBackendMixin, correlation_error
from sigma_es_backend.backends.pattern import Pattern
from sigma_es_backend.backends.text_base import ThreeValuedTextBackend
from sigma_es_backend.outputs import formats as detection_formats
from sigma_es_backend.outputs.kibana import EQL, KibanaQuery

# Longest sequence written for an event_count rule (one stage per counted event).
MAX_SEQUENCE_STAGES = 32


class EqlBackend(CorrelationBackendMixin, detection_formats.KibanaRuleFormats, ThreeValuedTextBackend):
    """Sigma → EQL (`any where …`)."""

    identifier: ClassVar[str] = "es_eql"
    name: ClassVar[str] = "Elasticsearch EQL (exact Sigma semantics)"
    formats: ClassVar[dict[str, str]] = {
        "default": "EQL query",
        "eqlapi": "Request body for the _eql/search API",
        **detection_formats.KIBANA_FORMATS,
    }
    kibana_query: ClassVar[KibanaQuery] = EQL
    kibana_correlation_range: ClassVar[Literal["window", "sequences"]] = "sequences"
    requires_pipeline: ClassVar[bool] = True

    or_token: ClassVar[str] = "or"
    and_token: ClassVar[str] = "and"
    not_token: ClassVar[str] = "not"
    eq_token: ClassVar[str] = " == "

    present_guard: ClassVar[str] = "({field} != null and {expr})"
    string_eq: ClassVar[dict[bool, str]] = {False: "{field} == {value}", True: "{field} : {value}"}
    string_wildcard: ClassVar[dict[bool, str]] = {False: "{field} like {value}", True: "{field} like~ {value}"}
    string_regex: ClassVar[dict[bool, str]] = {False: "{field} regex {value}", True: "{field} regex~ {value}"}
    cidr_ip_expression: ClassVar[str] = "cidrMatch({field}, {value})"
    ascii_case_folding: ClassVar[bool] = True
    # Elasticsearch EQL rejects comparing two fields with an operator, but its string functions take
    # fields on both sides. a equals b exactly when each starts with the other.
    fieldref_expressions: ClassVar[dict[str, str]] = {
        "equals": "(startsWith~({field}, {reference}) and startsWith~({reference}, {field}))",
        "startswith": "startsWith~({field}, {reference})",
        "endswith": "endsWith~({field}, {reference})",
        "contains": "stringContains~({field}, {reference})",
    }
    # A joined field (Sysmon User = user.domain + "\\" + user.name) is `concat(...)` inside those functions.
    # Elasticsearch's EQL accepts it there: startsWith / endsWith / stringContains resolve each argument with
    # isStringAndExact, which only restricts field attributes (concat's type is keyword), and build their
    # script from each argument's script; concat returns null when any argument is null
    # (x-pack/plugin/ql …/TypeResolutions.java, …/scalar/string/StartsWith.java, x-pack/plugin/eql
    # …/scalar/string/Concat.java, ConcatFunctionProcessor.java; qa additional_test_queries.toml
    # concatWithCondition*, and function calls as arguments: matchWithSubstring, numberStringConversion*).
    concat_expression: ClassVar[str] = "concat({args})"
    insensitive_eq_is_wildcard: ClassVar[bool] = True
    field_null_expression: ClassVar[str] = "{field} == null"
    field_exists_expression: ClassVar[str] = "{field} != null"
    field_not_exists_expression: ClassVar[str] = "{field} == null"
    bool_values: ClassVar[dict[bool, str]] = {True: "true", False: "false"}
    eq_expression: ClassVar[str] = "{field} == {value}"

    def quote_field(self, field: str) -> str:
        return escaping.eql_field(field)

    def string_literal(self, text: str) -> str:
        return escaping.eql_string(text)

    def wildcard_literal(self, pattern: Pattern) -> str | None:
        return escaping.eql_wildcard(pattern) if escaping.eql_wildcard_expressible(pattern) else None

    def finalize_query_default(self, rule: SigmaRule, query: str, index: int, state: ConversionState) -> str:
        return f"any where {query}"

    def finalize_query_eqlapi(self, rule: SigmaRule, query: str, index: int, state: ConversionState) -> str:
        return json.dumps({"query": f"any where {query}", "index": ",".join(index_patterns(state))})

    def finalize_output_eqlapi(self, queries: list[str]) -> list[str]:
        return queries

    # --- correlations ------------------------------------------------------------------------------
    def correlation_query(self, correlation: Correlation) -> str:
        """temporal_ordered → `sequence … with maxspan`; event_count gte/gt N → a sequence of N
        (N+1) stages of the same query: "N matching events within the timespan" is exactly "an
        ordered N-event sequence whose span is at most the timespan". Everything else is an error."""
        rule = correlation.rule
        if correlation.type == SigmaCorrelationType.TEMPORAL_ORDERED:
            if not correlation.requires_all_rules():
                raise correlation_error(self.identifier, rule, "temporal_ordered with a condition other than "
                                        "'all referenced rules' (an EQL sequence needs every stage)")
            stages = [(ref.query, ref.group_fields) for ref in correlation.rules]
        elif correlation.type == SigmaCorrelationType.EVENT_COUNT:
            if correlation.operator not in (">=", ">") or correlation.count != int(correlation.count):
                raise correlation_error(self.identifier, rule, f"event_count condition "
                                        f"'{correlation.operator} {correlation.count}': EQL cannot count an "
                                        "upper bound or an absence (use es_dsl or es_esql)")
            needed = int(correlation.count) + (1 if correlation.operator == ">" else 0)
            if needed > MAX_SEQUENCE_STAGES:
                raise correlation_error(self.identifier, rule, f"event_count of {needed} events needs a sequence "
                                        f"longer than {MAX_SEQUENCE_STAGES} stages")
            if correlation.has_aliases:
                raise correlation_error(self.identifier, rule, "aliases in an event_count rule")
            either = " or ".join(f"({ref.query})" for ref in correlation.rules)
            stages = [(either, correlation.rules[0].group_fields)] * max(needed, 1)
        elif correlation.type in (SigmaCorrelationType.VALUE_SUM, SigmaCorrelationType.VALUE_AVG):
            raise correlation_error(self.identifier, rule, f"{correlation.type.name.lower()}: EQL has no "
                                    "aggregations (use es_dsl or es_esql)")
        else:
            raise correlation_error(self.identifier, rule, f"{correlation.type.name.lower()}: EQL has no distinct "
                                    "counts and its sequences are ordered (use es_dsl or es_esql)")

        def stage(query: str, fields: tuple[str, ...]) -> str:
            # Events without a group-by value take no part (the other backends drop them too).
            present = "".join(f" and {self.quote_field(f)} != null" for f in fields)
            by = f" by {', '.join(self.quote_field(f) for f in fields)}" if fields else ""
            return f"[any where ({query}){present}]{by}"

        if len(stages) == 1:
            query, fields = stages[0]
            present = "".join(f" and {self.quote_field(f)} != null" for f in fields)
            return f"any where ({query}){present}"
        return f"sequence with maxspan={correlation.seconds}s " + " ".join(stage(q, f) for q, f in stages)
