"""es_dsl: Elasticsearch/OpenSearch Query DSL (JSON), with exact Sigma semantics.

Case-insensitive matching uses `case_insensitive: true` on term, prefix, wildcard and regexp queries,
which both engines evaluate exactly on keyword and wildcard fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import Backend
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationType
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
)

from sigma_es_backend.backends import compaction, escaping
from sigma_es_backend.backends.common import (
    CorrelationNotSupportedMixin,
    backslash_before_wildcard,
    boolean_value,
    check_clause_count,
    check_regexp,
    check_wildcard,
    field_capabilities,
    ipv4_cidr_regexp,
    keywords_error,
    never_an_ip,
    string_pattern,
    target_engine,
    text_field_error,
    timestamp_part,
    translate_re,
    unsupported,
)
from sigma_es_backend.backends.correlation import (
    VALUE_TYPES,
    Correlation,
    CorrelationBackendMixin,
    correlation_error,
    summed_field,
)
from sigma_es_backend.backends.fieldref import fieldref_script_query
from sigma_es_backend.backends.pattern import Pattern
from sigma_es_backend.outputs import formats as detection_formats
from sigma_es_backend.outputs.context import correlation_context
from sigma_es_backend.outputs.opensearch import BucketCondition, build_bucket_monitor, correlation_window

Query = dict[str, Any]
RANGE_OPERATORS = {CompareOperators.LT: "lt", CompareOperators.LTE: "lte",
                   CompareOperators.GT: "gt", CompareOperators.GTE: "gte"}
TIMESTAMP_PART_SCRIPT = (
    "if (!doc.containsKey(params.field)) { return false; } "
    "for (def t : doc[params.field]) { int v = params.part == 'minute' ? t.getMinute() "
    ": params.part == 'hour' ? t.getHour() : params.part == 'day' ? t.getDayOfMonth() "
    ": params.part == 'month' ? t.getMonthValue() : t.getYear(); if (v == params.value) { return true; } } "
    "return false;"
)
MATCH_NONE: Query = {"bool": {"must_not": [{"match_all": {}}]}}
# Groups per page of a correlation's composite aggregation (page on with `after_key`).
COMPOSITE_PAGE_SIZE = 10000


@dataclass(frozen=True)
class CorrelationSearch:
    """A correlation as a search: the query, the `groups` composite aggregation with the metrics the
    condition reads, and the condition as a bucket script over `buckets_path`."""

    query: Query
    groups: Query
    buckets_path: dict[str, str]
    script: str

    def body(self, selector: bool = True) -> Query:
        aggs = dict(self.groups["aggs"])
        if selector:
            aggs["condition"] = {"bucket_selector": {"buckets_path": self.buckets_path, "script": self.script}}
        return {"size": 0, "query": self.query, "aggs": {"groups": {**self.groups, "aggs": aggs}}}


class DslBackend(CorrelationBackendMixin, detection_formats.OpenSearchMonitorFormats, CorrelationNotSupportedMixin,
                 Backend):
    """Sigma → Query DSL."""

    identifier: ClassVar[str] = "es_dsl"
    name: ClassVar[str] = "Elasticsearch/OpenSearch Query DSL (exact Sigma semantics)"
    formats: ClassVar[dict[str, str]] = {
        "default": "Search body {\"query\": …} as JSON",
        "query": "Bare query object as JSON",
        **detection_formats.MONITOR_FORMATS,
    }
    requires_pipeline: ClassVar[bool] = True
    _depth: int = 0  # nesting of convert_condition calls (0: a rule's whole condition)
    _compact: bool = False  # value lists become regexp alternations (compaction.py)

    # --- boolean structure -----------------------------------------------------------------------
    def convert_condition(self, cond: Any, state: ConversionState) -> Any:
        """A rule's condition; converted again with value lists compacted when it has more leaf queries than
        max_clause_count allows, and refused (engine=opensearch) when even that is too many."""
        if self._depth:
            return super().convert_condition(cond, state)
        self._depth += 1
        try:
            query = super().convert_condition(cond, state)
            if isinstance(query, dict) and compaction.clause_count(query) > compaction.MAX_CLAUSE_COUNT:
                self._compact = True
                query = super().convert_condition(cond, state)
        finally:
            self._depth -= 1
            self._compact = False
        if isinstance(query, dict) and self.engine == "opensearch":
            check_clause_count(compaction.clause_count(query), self, cond)
        return query

    def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> Query:
        if self._compact:
            clauses = self._compacted(cond.args, state)
        else:
            clauses = [self.convert_condition(arg, state) for arg in cond.args]
        return clauses[0] if len(clauses) == 1 else {"bool": {"should": clauses, "minimum_should_match": 1}}

    def _compacted(self, args: list[Any], state: ConversionState) -> list[Query]:
        """The OR's string values per field as regexp alternations (each value as match_pattern's regexp
        would be: case forms as classes unless cased), everything else as usual."""
        groups: dict[str, list[tuple[Any, compaction.Alternative | None]]] = {}
        clauses: list[Query] = []
        for arg in args:
            if isinstance(arg, ConditionFieldEqualsValueExpression) and isinstance(arg.value, SigmaString):
                caps = field_capabilities(state, arg.field, self.engine)
                if caps.type in ("keyword", "wildcard", "constant_keyword"):
                    pattern = string_pattern(arg)
                    case_insensitive = not pattern.cased and pattern.has_case()

                    def render(inner: Pattern, ci: bool = case_insensitive, wild: bool = caps.type == "wildcard") -> str:
                        return escaping.regexp_from_pattern(inner, case_insensitive=ci, delimiter_escape=False,
                                                            backslash_class=wild)

                    member = compaction.alternative(pattern, render, case_insensitive)
                    groups.setdefault(arg.field, []).append((arg, member))
                    continue
            clauses.append(self.convert_condition(arg, state))
        for field, items in groups.items():
            regexps, alone = compaction.chunk_regexps([alt for _, alt in items])
            clauses.extend({"regexp": {field: {"value": regexp, "flags": "ALL"}}} for regexp in regexps)
            clauses.extend(self.convert_condition(items[i][0], state) for i in alone)
        return clauses

    def convert_condition_and(self, cond: ConditionAND, state: ConversionState) -> Query:
        clauses = [self.convert_condition(arg, state) for arg in cond.args]
        return clauses[0] if len(clauses) == 1 else {"bool": {"filter": clauses}}

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> Query:
        return {"bool": {"must_not": [self.convert_condition(cond.args[0], state)]}}

    def convert_condition_as_in_expression(self, cond: Any, state: ConversionState) -> Query:  # pragma: no cover
        raise NotImplementedError

    def decide_convert_condition_as_in_expression(self, cond: Any, state: ConversionState) -> bool:
        return False

    @property
    def engine(self) -> str:
        """`-O engine=opensearch|elasticsearch` (default elasticsearch): where the query will run."""
        return target_engine(self)

    # --- strings ---------------------------------------------------------------------------------
    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> Query:
        return self.match_pattern(cond.field, string_pattern(cond), state, cond)

    convert_condition_field_eq_val_str_case_sensitive = convert_condition_field_eq_val_str

    def match_pattern(self, field: str, pattern: Pattern, state: ConversionState, cond: Any) -> Query:
        caps = field_capabilities(state, field, self.engine)
        if caps.is_text:
            raise text_field_error(field, cond, self.identifier)
        if caps.is_boolean:
            return {"term": {field: {"value": boolean_value(field, pattern, cond, self.identifier)}}}
        if caps.is_ip:
            if pattern.has_wildcards:
                raise unsupported(f"wildcard value on ip field '{field}'", cond, self.identifier)
            if never_an_ip(pattern):  # an ip field cannot hold it: match nothing
                return {"match_none": {}}
            return {"term": {field: {"value": pattern.text}}}
        if pattern.is_match_all():
            return {"exists": {"field": field}}
        if not pattern.cased and pattern.has_non_ascii_case():
            # case_insensitive folds ASCII only: spell every case form out as a character class
            regexp = escaping.regexp_from_pattern(pattern, case_insensitive=True, delimiter_escape=False,
                                                  backslash_class=caps.type == "wildcard")
            return {"regexp": {field: {"value": check_regexp(regexp, field, cond, self.identifier, pattern),
                                       "flags": "ALL"}}}
        options = {} if pattern.cased or not pattern.has_case() else {"case_insensitive": True}
        if not pattern.has_wildcards:
            return {"term": {field: {"value": pattern.text, **options}}}
        if caps.type == "wildcard" and backslash_before_wildcard(pattern):
            # The wildcard field type of OpenSearch (2.19) answers a wildcard query wrongly when an escaped
            # backslash is directly followed by `*` or `?` (`*\\Temp\\*` finds nothing), and its regexp query
            # misses a bare `\\` next to an anchor (`a\\.*`); the class `[\\\\]` it evaluates exactly
            # (tests/live/test_wildcard_field_live.py, every placement against a keyword field). The same
            # regexp is exact on Elasticsearch, so this holds for both engines.
            regexp = escaping.regexp_from_pattern(pattern, case_insensitive=bool(options), delimiter_escape=False,
                                                  backslash_class=True)
            return {"regexp": {field: {"value": check_regexp(regexp, field, cond, self.identifier, pattern),
                                       "flags": "ALL"}}}
        # On wildcard-typed fields OpenSearch reads `*`, `?` and `\\` in a prefix value as pattern
        # syntax (checked on 2.19): the escaped wildcard query below is exact there.
        if pattern.is_prefix() and caps.type != "wildcard":
            return {"prefix": {field: {"value": Pattern(pattern.parts[:-1]).text, **options}}}
        check_wildcard(pattern, bool(options), field, cond, self.identifier)
        return {"wildcard": {field: {"value": escaping.dsl_wildcard(pattern), **options}}}

    # --- other value types -----------------------------------------------------------------------
    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> Query:
        assert isinstance(cond.value, SigmaNumber)
        value = cond.value.number
        if field_capabilities(state, cond.field, self.engine).is_numeric:
            return {"term": {cond.field: {"value": value}}}
        return {"term": {cond.field: {"value": str(value)}}}

    def convert_condition_field_eq_val_bool(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> Query:
        assert isinstance(cond.value, SigmaBool)
        return {"term": {cond.field: {"value": cond.value.boolean}}}

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression,
                                          state: ConversionState) -> Query:
        value = cond.value
        assert isinstance(value, SigmaRegularExpression)
        caps = field_capabilities(state, cond.field, self.engine)
        if caps.is_text or caps.is_ip or caps.is_numeric:
            raise unsupported(f"regular expression on {caps.type} field '{cond.field}'", cond, self.identifier)
        translated = translate_re(cond, self.identifier, escape_delimiter=False)
        return {"regexp": {cond.field: {"value": check_regexp(translated, cond.field, cond, self.identifier),
                                        "flags": "ALL"}}}

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> Query:
        value = cond.value
        assert isinstance(value, SigmaCIDRExpression)
        caps = field_capabilities(state, cond.field, self.engine)
        if caps.is_ip:
            return {"term": {cond.field: {"value": str(value.network)}}}
        if caps.is_text or caps.is_numeric:
            raise unsupported(f"cidr on {caps.type} field '{cond.field}'", cond, self.identifier)
        regexp = check_regexp(ipv4_cidr_regexp(value, cond, self.identifier), cond.field, cond, self.identifier)
        return {"regexp": {cond.field: {"value": regexp, "flags": "ALL"}}}

    def convert_condition_field_compare_op_val(self, cond: ConditionFieldEqualsValueExpression,
                                               state: ConversionState) -> Query:
        value = cond.value
        assert isinstance(value, SigmaCompareExpression)
        return {"range": {cond.field: {RANGE_OPERATORS[value.op]: value.number.number}}}

    def convert_condition_field_eq_field(self, cond: ConditionFieldEqualsValueExpression,
                                         state: ConversionState) -> Query:
        return fieldref_script_query(cond, state, self.identifier)

    def convert_condition_field_eq_val_timestamp_part(self, cond: ConditionFieldEqualsValueExpression,
                                                      state: ConversionState) -> Query:
        _, part, value = timestamp_part(state, cond, self.identifier)
        params = {"field": cond.field, "part": part, "value": value}
        return {"script": {"script": {"lang": "painless", "source": TIMESTAMP_PART_SCRIPT, "params": params}}}

    def convert_condition_field_eq_val_null(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> Query:
        return {"bool": {"must_not": [{"exists": {"field": cond.field}}]}}

    def convert_condition_field_exists(self, cond: ConditionFieldEqualsValueExpression,
                                       state: ConversionState) -> Query:
        return {"exists": {"field": cond.field}}

    def convert_condition_field_not_exists(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> Query:
        return {"bool": {"must_not": [{"exists": {"field": cond.field}}]}}

    def convert_condition_field_eq_query_expr(self, cond: ConditionFieldEqualsValueExpression,
                                              state: ConversionState) -> Query:
        raise unsupported("query expressions", cond, self.identifier)

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> Query:
        raise keywords_error(cond, self.identifier)

    convert_condition_val_num = convert_condition_val_str
    convert_condition_val_re = convert_condition_val_str
    convert_condition_query_expr = convert_condition_val_str

    # --- formats ---------------------------------------------------------------------------------
    def finalize_query_default(self, rule: SigmaRule, query: Query, index: int, state: ConversionState) -> str:
        return json.dumps({"query": query})

    def finalize_output_default(self, queries: list[str]) -> list[str]:
        return queries

    def finalize_query_query(self, rule: SigmaRule, query: Query, index: int, state: ConversionState) -> str:
        return json.dumps(query)

    def finalize_output_query(self, queries: list[str]) -> list[str]:
        return queries

    # --- correlations ------------------------------------------------------------------------------
    def correlation_search(self, correlation: Correlation, window: dict[str, Any]) -> CorrelationSearch:
        """The referenced rules' queries inside `window` (a range on @timestamp), a composite aggregation
        `groups` by the group-by fields with the metrics the condition reads, and the condition.

        value_count counts distinct values exactly: a `terms` sub-aggregation of size count+1, whose
        `_bucket_count` is min(distinct values, count+1), compares with count exactly for every
        operator (no `cardinality`: it is approximate above a few values, precision_threshold ≤ 40000).
        """
        rule = correlation.rule
        if correlation.has_aliases:
            raise correlation_error(self.identifier, rule, "aliases: a composite aggregation reads one field for "
                                    "every event and cannot take the key from the field of the rule that matched "
                                    "(use es_esql or es_eql)")
        if correlation.type == SigmaCorrelationType.TEMPORAL_ORDERED:
            raise correlation_error(self.identifier, rule, "temporal_ordered: aggregations cannot check the "
                                    "order of events (use es_eql)")
        state = ConversionState(processing_state=dict(self.last_processing_pipeline.state))
        for name in (*correlation.group_by, *([correlation.field] if correlation.field else [])):
            if field_capabilities(state, name).is_text:
                raise correlation_error(self.identifier, rule, f"field '{name}' is an analyzed text field: "
                                        "it cannot be aggregated")
        queries = [ref.query for ref in correlation.rules]
        # events without a group-by value, or without the counted / added-up field, take no part
        counted = [correlation.field] if correlation.type in VALUE_TYPES and correlation.field else []
        present = [{"exists": {"field": f}} for f in (*correlation.group_by, *counted)]
        either = queries[0] if len(queries) == 1 else {"bool": {"should": queries, "minimum_should_match": 1}}
        query = {"bool": {"filter": [{"range": {"@timestamp": window}}, either, *present]}}
        metrics: dict[str, Any] = {}
        paths: dict[str, str] = {"events": "_count"}
        if correlation.type == SigmaCorrelationType.EVENT_COUNT:
            measure = "params.events"
        elif correlation.type == SigmaCorrelationType.VALUE_COUNT:
            if not correlation.field or int(correlation.count) != correlation.count:
                raise correlation_error(self.identifier, rule, "value_count needs a field and an integer count")
            metrics["values"] = {"terms": {"field": correlation.field, "size": int(correlation.count) + 1}}
            paths["values"] = "values._bucket_count"
            measure = "params.values"
        elif correlation.type in (SigmaCorrelationType.VALUE_SUM, SigmaCorrelationType.VALUE_AVG):
            field = summed_field(self.identifier, correlation, field_capabilities(state, correlation.field or "").type)
            # sum op C/D ⇔ sum·D op C; avg op C/D ⇔ sum·D op C·n: integer arithmetic, exact (sums below 2^53,
            # the `sum` aggregation's double holds them exactly)
            metrics["value_sum"] = {"sum": {"field": field}}
            paths["value_sum"] = "value_sum"
            fraction = correlation.threshold_fraction()
            right = f"{fraction.numerator}L"
            if correlation.type == SigmaCorrelationType.VALUE_AVG:
                metrics["value_n"] = {"value_count": {"field": field}}
                paths["value_n"] = "value_n"
                right = f"{fraction.numerator}L * (long) params.value_n"
            script = (f"params.events > 0 && (long) params.value_sum * {fraction.denominator}L "
                      f"{correlation.operator} {right}")
        else:  # temporal: how many of the referenced rules have at least one event in the group
            terms = []
            for index, ref in enumerate(correlation.rules):
                metrics[f"rule{index}"] = {"filter": ref.query}
                paths[f"rule{index}"] = f"rule{index}._count"
                terms.append(f"(params.rule{index} > 0 ? 1 : 0)")
            measure = "(" + " + ".join(terms) + ")"
        # Without group-by, one bucket for all events: a composite source with a constant key, so every
        # correlation has the same multi-bucket parent (what an Alerting bucket-level trigger selects from).
        if correlation.type not in (SigmaCorrelationType.VALUE_SUM, SigmaCorrelationType.VALUE_AVG):
            script = f"params.events > 0 && {measure} {correlation.operator} {correlation.count}"
        sources = ([{f: {"terms": {"field": f}}} for f in correlation.group_by] if correlation.group_by
                   else [{"all": {"terms": {"script": {"source": "'all'", "lang": "painless"}}}}])
        groups = {"composite": {"size": COMPOSITE_PAGE_SIZE, "sources": sources}, "aggs": metrics}
        return CorrelationSearch(query, groups, paths, script)

    def correlation_query(self, correlation: Correlation) -> str:
        """Search body over `now-<timespan>`: the buckets left in `aggregations.groups` are the groups
        satisfying the condition (a bucket_selector holds it; page on with `after_key`)."""
        search = self.correlation_search(correlation, {"gte": f"now-{correlation.seconds}s"})
        return json.dumps(search.body())

    def finalize_correlation_opensearch_monitor(self, correlation: Correlation) -> str:
        """A bucket-level monitor: its search input is the correlation's aggregation over the timespan
        ending at the run (`{{period_end}}`), its trigger's bucket selector holds the condition."""
        if self.engine != "opensearch":
            raise correlation_error(self.identifier, correlation.rule, "opensearch_monitor runs on OpenSearch: "
                                    "drop -O engine=elasticsearch")
        options = self.detection_options()
        window = correlation_window(correlation.seconds)
        search = self.correlation_search(correlation, window)
        ctx = correlation_context(correlation, options)
        try:
            monitor = build_bucket_monitor(ctx, search.body(selector=False), BucketCondition(
                parent_bucket_path="groups", buckets_path=search.buckets_path, script=search.script),
                correlation.seconds)
        except ValueError as error:
            raise correlation_error(self.identifier, correlation.rule, str(error)) from error
        return json.dumps(monitor, indent=2, ensure_ascii=False)
