"""es_eql: Event Query Language for Elasticsearch.

`:` and `like~`/`regex~` are EQL's case-insensitive operators, `==`/`like`/`regex` the cased ones.
"""

from __future__ import annotations

import json
from typing import ClassVar

from sigma.conversion.state import ConversionState
from sigma.rule import SigmaRule

from sigma_es_backend.backends import escaping
from sigma_es_backend.backends.common import index_patterns
from sigma_es_backend.backends.pattern import Pattern
from sigma_es_backend.backends.text_base import ThreeValuedTextBackend
from sigma_es_backend.outputs import formats as detection_formats
from sigma_es_backend.outputs.kibana import EQL, KibanaQuery


class EqlBackend(detection_formats.KibanaRuleFormats, ThreeValuedTextBackend):
    """Sigma → EQL (`any where …`)."""

    identifier: ClassVar[str] = "es_eql"
    name: ClassVar[str] = "Elasticsearch EQL (exact Sigma semantics)"
    formats: ClassVar[dict[str, str]] = {
        "default": "EQL query",
        "eqlapi": "Request body for the _eql/search API",
        **detection_formats.KIBANA_FORMATS,
    }
    kibana_query: ClassVar[KibanaQuery] = EQL
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
