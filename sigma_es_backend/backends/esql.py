"""es_esql: ES|QL for Elasticsearch.

ES|QL comparisons and LIKE are case-sensitive: case-insensitive Sigma matches compare the
lower-cased field with the lower-cased value (`TO_LOWER(field) == "value"`).

Analyzed `text` fields (e.g. `powershell.file.script_block_text`) match exactly: ES|QL does not
query the analyzed terms; it reads a text field's keyword-family subfield or else the string from
`_source` and evaluates `==`, LIKE, RLIKE and TO_LOWER on that whole value (Elasticsearch ES|QL
limitations, "_text fields behave like keyword fields_").
"""

from __future__ import annotations

from typing import ClassVar

from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationType
from sigma.rule import SigmaRule

from sigma_es_backend.backends import escaping
from sigma_es_backend.backends.common import field_capabilities, index_patterns
from sigma_es_backend.backends.correlation import (
    Correlation,
    CorrelationBackendMixin,
    correlation_error,
    summed_field,
)
from sigma_es_backend.backends.pattern import Pattern
from sigma_es_backend.backends.text_base import ThreeValuedTextBackend
from sigma_es_backend.outputs import formats as detection_formats
from sigma_es_backend.outputs.kibana import ESQL, KibanaQuery


class EsqlBackend(CorrelationBackendMixin, detection_formats.KibanaRuleFormats, ThreeValuedTextBackend):
    """Sigma → ES|QL (`FROM … | WHERE …`)."""

    identifier: ClassVar[str] = "es_esql"
    name: ClassVar[str] = "Elasticsearch ES|QL (exact Sigma semantics)"
    formats: ClassVar[dict[str, str]] = {"default": "ES|QL query", **detection_formats.KIBANA_FORMATS}
    kibana_query: ClassVar[KibanaQuery] = ESQL
    requires_pipeline: ClassVar[bool] = True

    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = " == "
    text_fields_exact: ClassVar[bool] = True

    present_guard: ClassVar[str] = "({field} IS NOT NULL AND {expr})"
    string_eq: ClassVar[dict[bool, str]] = {False: "{field} == {value}", True: "{field} == {value}"}
    string_wildcard: ClassVar[dict[bool, str]] = {False: "{field} LIKE {value}", True: "{field} LIKE {value}"}
    string_regex: ClassVar[dict[bool, str]] = {False: "{field} RLIKE {value}", True: "{field} RLIKE {value}"}
    cidr_ip_expression: ClassVar[str] = "CIDR_MATCH({field}, {value})"
    timestamp_part_expression: ClassVar[str | None] = "DATE_EXTRACT({part}, {field}) == {value}"
    fieldref_expressions: ClassVar[dict[str, str]] = {
        "equals": "TO_LOWER({field}) == TO_LOWER({reference})",
        "startswith": "STARTS_WITH(TO_LOWER({field}), TO_LOWER({reference}))",
        "endswith": "ENDS_WITH(TO_LOWER({field}), TO_LOWER({reference}))",
        "contains": "LOCATE(TO_LOWER({field}), TO_LOWER({reference})) > 0",
    }
    # A joined field (Sysmon User = user.domain + "\\" + user.name): CONCAT takes keyword/text arguments
    # and, like every ES|QL scalar function, returns null when an argument is null (or multi-valued).
    concat_expression: ClassVar[str] = "CONCAT({args})"
    field_null_expression: ClassVar[str] = "{field} IS NULL"
    field_exists_expression: ClassVar[str] = "{field} IS NOT NULL"
    field_not_exists_expression: ClassVar[str] = "{field} IS NULL"
    bool_values: ClassVar[dict[bool, str]] = {True: "true", False: "false"}
    eq_expression: ClassVar[str] = "{field} == {value}"

    def quote_field(self, field: str) -> str:
        return escaping.esql_field(field)

    def lowered_field(self, field: str) -> str:
        return f"TO_LOWER({self.quote_field(field)})"

    def lower_values(self) -> bool:
        return True

    def string_literal(self, text: str) -> str:
        return escaping.esql_string(text)

    def wildcard_literal(self, pattern: Pattern) -> str | None:
        return escaping.esql_like(pattern)

    def finalize_query_default(self, rule: SigmaRule, query: str, index: int, state: ConversionState) -> str:
        return f"FROM {','.join(index_patterns(state))} METADATA _id, _index, _version | WHERE {query}"

    # --- correlations ------------------------------------------------------------------------------
    def correlation_query(self, correlation: Correlation) -> str:
        """`WHERE @timestamp >= NOW() - <timespan>` (one window ending at the evaluation, no BUCKET:
        no clock-aligned buckets), then STATS by the group-by fields and the condition as WHERE.

        value_count is exact: `STATS BY group, field` keeps one row per distinct value, a second
        STATS counts those rows (COUNT_DISTINCT is approximate, so it is not used).
        temporal: a 0/1 column per referenced rule, its MAX per group, their sum vs. the condition.
        """
        rule = correlation.rule
        if correlation.type == SigmaCorrelationType.TEMPORAL_ORDERED:
            raise correlation_error(self.identifier, rule, "temporal_ordered: STATS cannot check the order "
                                    "of events (use es_eql)")
        group = [self.quote_field(f) for f in correlation.group_by]
        by = f" BY {', '.join(group)}" if group else ""
        either = " OR ".join(f"({ref.query})" for ref in correlation.rules)
        where = [f"@timestamp >= NOW() - {correlation.seconds} seconds", f"({either})"]
        if not correlation.has_aliases:
            where += [f"{g} IS NOT NULL" for g in group]
        pipes = [f"FROM {','.join(correlation.indexes)}", "WHERE " + " AND ".join(where)]
        if correlation.has_aliases:
            pipes += self.alias_key(correlation)
        op, count = correlation.operator, correlation.count
        if correlation.type == SigmaCorrelationType.EVENT_COUNT:
            pipes += [f"STATS event_count = COUNT(*){by}", f"WHERE event_count {op} {count}"]
        elif correlation.type == SigmaCorrelationType.VALUE_COUNT:
            if not correlation.field:
                raise correlation_error(self.identifier, rule, "value_count without a field")
            value = self.quote_field(correlation.field)
            pipes += [f"WHERE {value} IS NOT NULL", f"STATS BY {', '.join([*group, value])}",
                      f"STATS value_count = COUNT(*){by}", f"WHERE value_count > 0 AND value_count {op} {count}"]
        elif correlation.type in (SigmaCorrelationType.VALUE_SUM, SigmaCorrelationType.VALUE_AVG):
            state = ConversionState(processing_state=dict(self.last_processing_pipeline.state))
            field = summed_field(self.identifier, correlation, field_capabilities(state, correlation.field or "").type)
            value = self.quote_field(field)
            # sum op C/D ⇔ sum·D op C; avg op C/D ⇔ sum·D op C·n: long arithmetic, exact (no AVG, a double)
            fraction = correlation.threshold_fraction()
            right = f"{fraction.numerator}" + (" * value_n" if correlation.type == SigmaCorrelationType.VALUE_AVG
                                               else "")
            pipes += [f"WHERE {value} IS NOT NULL", f"STATS value_sum = SUM({value}), value_n = COUNT({value}){by}",
                      f"WHERE value_sum * {fraction.denominator} {op} {right}"]
        else:
            # with an alias, a rule counts for the group its own field names (the event may name others)
            flags = [f"rule{i} = CASE({ref.query}, 1, 0)" if not correlation.has_aliases else
                     f"rule{i} = CASE(({ref.query}) AND {self.quote_field(ref.group_fields[0])} == {group[0]}, 1, 0)"
                     for i, ref in enumerate(correlation.rules)]
            maxima = [f"rule{i} = MAX(rule{i})" for i in range(len(correlation.rules))]
            total = " + ".join(f"rule{i}" for i in range(len(correlation.rules)))
            pipes += ["EVAL " + ", ".join(flags), "STATS " + ", ".join(maxima) + by,
                      f"WHERE ({total}) {op} {count}"]
        return " | ".join(pipes)

    def alias_key(self, correlation: Correlation) -> list[str]:
        """The group key of an aliased group-by: per event, the alias field of every referenced rule the
        event matches (`CASE(q, field)`), distinct values (`MV_DEDUPE`), one row per value (`MV_EXPAND`):
        an event counts once in each group one of its matching rules puts it in."""
        rule = correlation.rule
        if len(correlation.group_by) != 1:
            raise correlation_error(self.identifier, rule, "aliases with several group-by fields: one row per "
                                    "matching rule would pair one rule's field with another's (use es_eql)")
        state = ConversionState(processing_state=dict(self.last_processing_pipeline.state))
        fields = [ref.group_fields[0] for ref in correlation.rules]
        types = {field_capabilities(state, f).type for f in fields}
        if len(types) > 1:
            raise correlation_error(self.identifier, rule, f"alias '{correlation.group_by[0]}' joins fields of "
                                    f"different types ({', '.join(sorted(types))}): their values cannot be compared")
        key = ""
        for ref, field in zip(correlation.rules, fields, strict=True):
            value = f"CASE({ref.query}, {self.quote_field(field)})"
            key = f"MV_APPEND({key}, {value})" if key else value
        alias = self.quote_field(correlation.group_by[0])
        return [f"EVAL {alias} = MV_DEDUPE({key})", f"MV_EXPAND {alias}", f"WHERE {alias} IS NOT NULL"]
