"""es_lucene: Lucene query_string syntax for Elasticsearch and OpenSearch.

query_string has no case-insensitive operator. A case-insensitive Sigma match therefore uses the
field's lowercase-normalized subfield where the pipeline declares one, else a regular expression with
a character class per letter — never a silently case-sensitive term. Negations are written as
`(*:* AND NOT x)` because a bare `NOT x` inside an OR group is a Lucene MUST_NOT clause, which would
turn `a OR NOT b` into `a AND NOT b`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.deferred import DeferredQueryExpression
from sigma.conversion.state import ConversionState
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
)

from sigma_es_backend.backends import compaction, escaping, lucene_filters
from sigma_es_backend.backends.common import (
    FieldCapabilities,
    RuleLabelMixin,
    StringDispatchMixin,
    boolean_value,
    check_clause_count,
    check_query_string_length,
    check_regexp,
    check_wildcard,
    clause_limit,
    field_capabilities,
    ipv4_cidr_regexp,
    keywords_error,
    never_an_ip,
    query_string_query,
    string_pattern,
    target_engine,
    text_field_error,
    translate_re,
    unsupported,
)
from sigma_es_backend.backends.fieldref import fieldref_refused
from sigma_es_backend.backends.pattern import Pattern
from sigma_es_backend.outputs import formats as detection_formats
from sigma_es_backend.outputs.kibana import LUCENE, KibanaQuery

# Queries LuceneBackend.match_pattern keeps (cleared when full).
MATCH_MEMO_LIMIT = 50_000


class LuceneBackend(RuleLabelMixin, detection_formats.KibanaThresholdCorrelations, detection_formats.KibanaRuleFormats,
                    detection_formats.OpenSearchMonitorFormats, StringDispatchMixin, TextQueryBackend):
    """Sigma → Lucene query_string (Elasticsearch / OpenSearch)."""

    identifier: ClassVar[str] = "es_lucene"
    name: ClassVar[str] = "Elasticsearch/OpenSearch Lucene query_string (exact Sigma semantics)"
    formats: ClassVar[dict[str, str]] = {
        "default": "Lucene query_string query",
        "dsl_query": "Search body with the query_string query",
        **detection_formats.KIBANA_FORMATS,
        **detection_formats.MONITOR_FORMATS,
    }
    kibana_query: ClassVar[KibanaQuery] = LUCENE
    requires_pipeline: ClassVar[bool] = True

    parenthesize: bool = True  # Lucene's AND/OR are clause modifiers, not operators: group everything
    precedence: ClassVar[tuple[type, type, type]] = (ConditionNOT, ConditionAND, ConditionOR)
    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = ":"

    field_null_expression: ClassVar[str] = "(*:* AND NOT _exists_:{field})"
    field_exists_expression: ClassVar[str] = "_exists_:{field}"
    field_not_exists_expression: ClassVar[str] = "(*:* AND NOT _exists_:{field})"
    explicit_not_exists_expression: ClassVar[bool] = True
    compare_op_expression: ClassVar[str] = "{field}:{operator}{value}"
    compare_operators: ClassVar[dict[CompareOperators, str]] = {
        CompareOperators.LT: "<",
        CompareOperators.LTE: "<=",
        CompareOperators.GT: ">",
        CompareOperators.GTE: ">=",
    }
    bool_values: ClassVar[dict[bool, str]] = {True: "true", False: "false"}
    memoise_matches: ClassVar[bool] = True  # False: every value's query built anew (tests compare both)
    boolean_shortcut: ClassVar[bool] = True  # False: pySigma's AND/OR conversion only (tests compare both)
    _depth: int = 0  # nesting of convert_condition calls (0: a rule's whole condition)
    _compact: bool = False  # value lists become regexp alternations (compaction.py)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._matches: dict[tuple, str] = {}  # see match_pattern

    def escape_and_quote_field(self, field_name: str) -> str:
        return escaping.lucene_field(field_name)

    # --- boolean structure -----------------------------------------------------------------------
    def convert_condition(self, cond: Any, state: ConversionState) -> Any:
        """A rule's condition; converted again with value lists compacted when it has more leaf queries than
        max_clause_count allows or (engine=opensearch) is longer than OpenSearch's query string limit; with
        engine=opensearch refused when even that is over a limit. A rule with field references is its
        query_string and the references as filters beside it (`lucene_filters`)."""
        if self._depth:
            if self.boolean_shortcut and type(cond) is ConditionFieldEqualsValueExpression:
                return self.convert_condition_field_eq_val(cond, state)  # pySigma's dispatch of a leaf
            return super().convert_condition(cond, state)
        self._depth += 1
        try:
            query = super().convert_condition(cond, state)
            if isinstance(query, str) and self._over_limits(query):
                self._compact = True
                query = super().convert_condition(cond, state)
        except lucene_filters.ReferenceFound:
            query = lucene_filters.ReferenceFound
        finally:
            self._depth -= 1
            self._compact = False
        if query is lucene_filters.ReferenceFound:
            return self._with_filters(cond, state)
        if isinstance(query, str) and self.engine == "opensearch":
            if compaction.lucene_clauses_exceed(query, clause_limit(self)):
                check_clause_count(compaction.lucene_clause_count(query), self, cond)
            check_query_string_length(len(query), self, cond)
        return query

    def _with_filters(self, cond: Any, state: ConversionState) -> lucene_filters.LuceneWithFilters:
        try:
            rest, filters = lucene_filters.split(cond, state, self.identifier)
        except lucene_filters.ReferenceInOr as error:
            raise fieldref_refused(error.args[0], "query_string cannot compare two fields, and this comparison "
                                   "is part of an OR: no filter beside the query_string can carry it",
                                   self.identifier, self._rule_label) from None
        query = self.convert_condition(rest, state) if rest is not None else "*:*"
        return lucene_filters.LuceneWithFilters(query, filters, lucene_filters.first_fieldref(cond))

    def _over_limits(self, query: str) -> bool:
        return compaction.lucene_clauses_exceed(query, compaction.MAX_CLAUSE_COUNT) or (
            self.engine == "opensearch" and len(query) > compaction.MAX_QUERY_STRING_LENGTH)

    def _joined(self, cond: ConditionAND | ConditionOR, state: ConversionState, token: str) -> str | None:
        """pySigma's AND/OR conversion when every operand converts to a string, as es_lucene's always do: the
        operands joined by the token. pySigma's own method also sets deferred and empty operands aside
        (a fifth of the condition conversion time); for any such operand (None here) it converts again."""
        if not self.boolean_shortcut:
            return None
        operands = [self.convert_condition(arg, state) if self.compare_precedence(cond, arg)
                    else self.convert_condition_group(arg, state) for arg in cond.args]
        if not all(type(operand) is str for operand in operands):
            return None
        joiner = token if self.token_separator == token else self.token_separator + token + self.token_separator
        return joiner.join(operands)

    def convert_condition_and(self, cond: ConditionAND, state: ConversionState) -> Any:
        query = self._joined(cond, state, self.and_token)
        return query if query is not None else super().convert_condition_and(cond, state)

    def convert_condition_group(self, cond: Any, state: ConversionState) -> Any:
        """pySigma's grouping (the same in pySigma 1.5 and 2), a string tested first."""
        if not self.boolean_shortcut:
            return super().convert_condition_group(cond, state)
        expr = self.convert_condition(cond, state)
        if type(expr) is not str and (expr is None or isinstance(expr, DeferredQueryExpression)):
            return expr
        return self.group_expression.format(expr=expr)

    def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> Any:
        if not self._compact:
            query = self._joined(cond, state, self.or_token)
            return query if query is not None else super().convert_condition_or(cond, state)
        groups: dict[str, list[tuple[Any, compaction.Alternative | None]]] = {}
        rest = []
        for arg in cond.args:
            member = self._alternative(arg, state)
            if member is None:
                rest.append(arg)
            else:
                groups.setdefault(member[0], []).append((arg, member[1]))
        parts = [self._or_operand(cond, arg, state) for arg in rest]
        for field, items in groups.items():
            regexps, alone = compaction.chunk_regexps([alt for _, alt in items])
            parts.extend(f"{self.escape_and_quote_field(field)}:{escaping.lucene_regexp_term(r)}" for r in regexps)
            parts.extend(self._or_operand(cond, items[i][0], state) for i in alone)
        return " OR ".join(part for part in parts if part is not None)

    def _or_operand(self, cond: ConditionOR, arg: Any, state: ConversionState) -> Any:
        return (self.convert_condition(arg, state) if self.compare_precedence(cond, arg)
                else self.convert_condition_group(arg, state))

    def _alternative(self, arg: Any, state: ConversionState) -> tuple[str, compaction.Alternative | None] | None:
        """(queried field, the value as an alternation member) as match_pattern would query a string value:
        the value itself when case does not matter, lowercased on a caseless subfield, else with every case
        form as a class; None for values match_pattern answers otherwise."""
        if not (isinstance(arg, ConditionFieldEqualsValueExpression) and isinstance(arg.value, SigmaString)):
            return None
        caps = field_capabilities(state, arg.field)
        pattern = string_pattern(arg)
        if caps.is_text or caps.is_boolean or caps.is_ip or pattern.is_match_all():
            return None
        field, case_insensitive = arg.field, False
        if not pattern.cased and pattern.has_case():
            if caps.caseless:
                field, pattern = caps.caseless, pattern.lower()
            else:
                case_insensitive = True

        def render(inner: Pattern) -> str:
            return escaping.regexp_from_pattern(inner, case_insensitive=case_insensitive)

        return field, compaction.alternative(pattern, render, case_insensitive)

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> Any:
        inner = self.convert_condition(cond.args[0], state)
        return f"(*:* AND NOT {self._grouped(inner)})"

    @staticmethod
    def _grouped(expr: str) -> str:
        return expr if expr.startswith("(") and expr.endswith(")") and _balanced_outer(expr) else f"({expr})"

    def _or(self, exprs: list[str]) -> str:
        return exprs[0] if len(exprs) == 1 else "(" + " OR ".join(exprs) + ")"

    # --- strings ---------------------------------------------------------------------------------
    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        return self.match_pattern(cond.field, string_pattern(cond), state, cond)

    convert_condition_field_eq_val_str_case_sensitive = convert_condition_field_eq_val_str

    @property
    def engine(self) -> str:
        """`-O engine=opensearch|elasticsearch` (default elasticsearch): where the query will run."""
        return target_engine(self)

    def match_pattern(self, field: str, pattern: Pattern, state: ConversionState, cond: Any) -> str:
        """The query of `field` matching `pattern`: a function of the field, the pattern and the field's
        capabilities alone, so bulk conversion keeps each one (values recur across rules); failures are
        not kept (their errors name the rule)."""
        caps = field_capabilities(state, field)
        if not self.memoise_matches:
            return self._match_pattern(field, pattern, caps, cond)
        key = (field, pattern.parts, pattern.cased, caps.type, caps.caseless)  # tuples hash in C, dataclasses not
        query = self._matches.get(key)
        if query is None:
            query = self._match_pattern(field, pattern, caps, cond)
            if len(self._matches) >= MATCH_MEMO_LIMIT:
                self._matches.clear()
            self._matches[key] = query
        return query

    def _match_pattern(self, field: str, pattern: Pattern, caps: FieldCapabilities, cond: Any) -> str:
        # A field declared `wildcard` is queried like a keyword. On Elasticsearch query_string matches the
        # wildcard type exactly; OpenSearch's wildcard type it cannot (wildcard/regexp terms are answered
        # from n-grams alone: misses and over-matches, tests/live/test_wildcard_field_live.py), so for
        # OpenSearch the bundled index template maps ECS wildcard fields as keyword (events/templates.py)
        # and the README makes that a requirement.
        if caps.is_text:
            raise text_field_error(field, cond, self.identifier)
        if caps.is_boolean:
            value = boolean_value(field, pattern, cond, self.identifier)
            return f"{self.escape_and_quote_field(field)}:{self.bool_values[value]}"
        if caps.is_ip:
            if pattern.has_wildcards:
                raise unsupported(f"wildcard value on ip field '{field}'", cond, self.identifier)
            if never_an_ip(pattern):  # an ip field cannot hold it: match nothing
                return "(*:* AND NOT *:*)"
            return f"{self.escape_and_quote_field(field)}:{escaping.lucene_term(pattern)}"
        if pattern.cased or not pattern.has_case():
            check_wildcard(pattern, False, field, cond, self.identifier)
            return f"{self.escape_and_quote_field(field)}:{escaping.lucene_term(pattern)}"
        if caps.caseless:
            check_wildcard(pattern.lower(), False, caps.caseless, cond, self.identifier)
            return f"{self.escape_and_quote_field(caps.caseless)}:{escaping.lucene_term(pattern.lower())}"
        regexp = check_regexp(escaping.regexp_from_pattern(pattern, case_insensitive=True), field, cond,
                              self.identifier, pattern)
        return f"{self.escape_and_quote_field(field)}:{escaping.lucene_regexp_term(regexp)}"

    # --- other value types -----------------------------------------------------------------------
    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaNumber)
        return f"{self.escape_and_quote_field(cond.field)}:{escaping.lucene_term(Pattern.literal(str(cond.value)))}"

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression,
                                          state: ConversionState) -> str:
        value = cond.value
        assert isinstance(value, SigmaRegularExpression)
        caps = field_capabilities(state, cond.field)
        if caps.is_text or caps.is_ip or caps.is_numeric:
            raise unsupported(f"regular expression on {caps.type} field '{cond.field}'", cond, self.identifier)
        translated = check_regexp(translate_re(cond, self.identifier), cond.field, cond, self.identifier)
        return f"{self.escape_and_quote_field(cond.field)}:{escaping.lucene_regexp_term(translated)}"

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> str:
        value = cond.value
        assert isinstance(value, SigmaCIDRExpression)
        field = self.escape_and_quote_field(cond.field)
        caps = field_capabilities(state, cond.field)
        if caps.is_ip:
            return f"{field}:{escaping.lucene_term(Pattern.literal(str(value.network)))}"
        if caps.is_text or caps.is_numeric:
            raise unsupported(f"cidr on {caps.type} field '{cond.field}'", cond, self.identifier)
        regexp = check_regexp(ipv4_cidr_regexp(value, cond, self.identifier), cond.field, cond, self.identifier)
        return f"{field}:{escaping.lucene_regexp_term(regexp)}"

    def convert_condition_field_compare_op_val(self, cond: ConditionFieldEqualsValueExpression,
                                               state: ConversionState) -> str:
        value = cond.value
        assert isinstance(value, SigmaCompareExpression)
        number = escaping.lucene_term(Pattern.literal(str(value.number)))
        return f"{self.escape_and_quote_field(cond.field)}:{self.compare_operators[value.op]}{number}"

    def convert_condition_field_eq_field(self, cond: ConditionFieldEqualsValueExpression,
                                         state: ConversionState) -> str:
        if self._depth:  # within a rule's condition: convert_condition takes the reference out (_with_filters)
            raise lucene_filters.ReferenceFound(cond)
        raise fieldref_refused(cond, "query_string cannot compare two fields", self.identifier, self._rule_label)

    def convert_condition_field_eq_val_timestamp_part(self, cond: ConditionFieldEqualsValueExpression,
                                                      state: ConversionState) -> str:
        raise unsupported("timestamp part modifiers: query_string cannot extract date parts", cond,
                          self.identifier)

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        raise keywords_error(cond, self.identifier)

    convert_condition_val_num = convert_condition_val_str
    convert_condition_val_re = convert_condition_val_str

    # --- formats ---------------------------------------------------------------------------------
    def finish_query(self, rule: SigmaRule, query: Any, state: ConversionState) -> Any:
        if isinstance(query, lucene_filters.LuceneWithFilters):  # pySigma formats the query_string part only
            return replace(query, query=super().finish_query(rule, query.query, state))
        return super().finish_query(rule, query, state)

    def finalize_query_default(self, rule: SigmaRule, query: Any, index: int, state: ConversionState) -> Any:
        if isinstance(query, lucene_filters.LuceneWithFilters):
            raise fieldref_refused(query.fieldref, "query_string cannot compare two fields (the formats dsl_query, "
                                   "kibana_rule, kibana_ndjson and opensearch_monitor carry the comparison as a "
                                   "script filter beside the query_string)", self.identifier, self._rule_label)
        return super().finalize_query_default(rule, query, index, state)

    def finalize_query_dsl_query(self, rule: SigmaRule, query: Any, index: int, state: ConversionState) -> str:
        if isinstance(query, lucene_filters.LuceneWithFilters):
            return json.dumps({"query": query.dsl()})
        return json.dumps({"query": query_string_query(query)})

    def kibana_query_and_filters(self, rule: SigmaRule, query: Any, index: int,
                                 state: ConversionState) -> tuple[str, tuple[dict[str, Any], ...]]:
        if isinstance(query, lucene_filters.LuceneWithFilters):
            return query.query, tuple(f.kibana() for f in query.filters)
        return super().kibana_query_and_filters(rule, query, index, state)

    def monitor_query(self, query: Any) -> Any:
        if not isinstance(query, lucene_filters.LuceneWithFilters):
            return query
        if self.backend_options.get("monitor_type") == "doc_level":
            raise fieldref_refused(query.fieldref, "a document-level monitor takes a query_string only, and "
                                   "query_string cannot compare two fields (without -O monitor_type=doc_level "
                                   "the rule becomes a query-level monitor with the comparison as a script filter)",
                                   self.identifier, self._rule_label)
        return query.dsl()

    def finalize_output_dsl_query(self, queries: list[str]) -> list[str]:
        return queries


def _balanced_outer(expr: str) -> bool:
    """True when the first '(' closes at the very end (so the expression is one group)."""
    depth = 0
    escaped = False
    in_regexp = False
    for index, char in enumerate(expr):
        if escaped:
            escaped = False
            continue
        if char == "\\":
            escaped = True
        elif char == "/":
            in_regexp = not in_regexp
        elif in_regexp:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0 and index != len(expr) - 1:
                return False
    return depth == 0
