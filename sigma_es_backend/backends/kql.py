"""es_kql: Kibana Query Language (kuery), as Kibana translates it to Query DSL.

How Kibana runs KQL (@kbn/es-query, `is` / `not` / `range` functions) decides what is exact:
- A quoted value is a phrase (`match_phrase`, or `term` on a keyword field of a data view): literal text.
- An unquoted value with `*` becomes a query_string term on that field (a `wildcard` query on keyword
  fields of a data view). `*` is KQL's only wildcard; Sigma's `?` has none. Kibana escapes the
  query_string operators but not whitespace, so whitespace in a wildcard value would split it: error.
- `not x` is `bool.must_not`: an event without the field matches `not field: value`, as in Sigma.
- There is no case-insensitive operator. A case-insensitive match uses the field's lowercase-normalized
  subfield where the pipeline declares one; else, for short values, the list of every case spelling
  (`-O case_variants=N`, at most N spellings, default 16); else the rule fails, unless
  `-O case_approximation=true`, which matches case-sensitively and warns for that rule.
- No regular expressions, no field-to-field comparison, no date parts: those rules fail.
Kibana's detection engine runs a `kuery` rule with a data view without field types, which is the
translation the live tests prove (tests/live/kql_harness.py, mode `detection_engine`).
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.rule import SigmaRule
from sigma.types import CompareOperators, SigmaCIDRExpression, SigmaCompareExpression, SigmaNumber

from sigma_es_backend.backends import escaping
from sigma_es_backend.backends.common import (
    FieldCapabilities,
    RuleLabelMixin,
    StringDispatchMixin,
    boolean_value,
    field_capabilities,
    index_patterns,
    keywords_error,
    never_an_ip,
    string_pattern,
    text_field_error,
    unsupported,
)
from sigma_es_backend.backends.escaping import case_variants
from sigma_es_backend.backends.fieldref import fieldref_refused
from sigma_es_backend.backends.pattern import Pattern, Wildcard
from sigma_es_backend.outputs import formats as detection_formats
from sigma_es_backend.outputs.discover import discover_saved_objects, unique_ndjson
from sigma_es_backend.outputs.kibana import KUERY, KibanaQuery

DEFAULT_CASE_VARIANTS = 16
CIDR_ADDRESS_LIMIT = 1024  # keyword-field networks are listed address by address


class CaseApproximationWarning(UserWarning):
    """A case-insensitive Sigma match written case-sensitively because `case_approximation=true`."""


class KqlBackend(RuleLabelMixin, detection_formats.KibanaThresholdCorrelations, detection_formats.KibanaRuleFormats,
                 StringDispatchMixin,
                 TextQueryBackend):
    """Sigma → KQL (Kibana Query Language)."""

    identifier: ClassVar[str] = "es_kql"
    name: ClassVar[str] = "Kibana Query Language (KQL / kuery), exact Sigma semantics"
    formats: ClassVar[dict[str, str]] = {
        "default": "KQL query",
        "discover_ndjson": "Kibana saved objects (NDJSON): a data view on the data source's index patterns "
                           "and a Discover saved search with the query",
        **detection_formats.KIBANA_FORMATS,
    }
    kibana_query: ClassVar[KibanaQuery] = KUERY  # Kibana rule type `query`, language `kuery`
    requires_pipeline: ClassVar[bool] = True

    precedence: ClassVar[tuple[type, type, type]] = (ConditionNOT, ConditionAND, ConditionOR)
    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "or"
    and_token: ClassVar[str] = "and"
    not_token: ClassVar[str] = "not"
    eq_token: ClassVar[str] = ": "

    field_exists_expression: ClassVar[str] = "{field}: *"
    field_not_exists_expression: ClassVar[str] = "not {field}: *"
    field_null_expression: ClassVar[str] = "not {field}: *"
    explicit_not_exists_expression: ClassVar[bool] = True
    compare_op_expression: ClassVar[str] = "{field} {operator} {value}"
    compare_operators: ClassVar[dict[CompareOperators, str]] = {
        CompareOperators.LT: "<", CompareOperators.LTE: "<=",
        CompareOperators.GT: ">", CompareOperators.GTE: ">=",
    }
    bool_values: ClassVar[dict[bool, str]] = {True: "true", False: "false"}

    def escape_and_quote_field(self, field_name: str) -> str:
        return escaping.kql_field(field_name)

    # --- options ---------------------------------------------------------------------------------
    @property
    def case_approximation(self) -> bool:
        return str(self.backend_options.get("case_approximation", "false")).lower() in ("true", "1", "yes")

    @property
    def case_variants_limit(self) -> int:
        value = self.backend_options.get("case_variants", DEFAULT_CASE_VARIANTS)
        try:
            return int(value)
        except ValueError as error:
            raise unsupported(f"case_variants must be a number, not '{value}'", backend=self.identifier) from error

    # --- boolean structure -----------------------------------------------------------------------
    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> Any:
        # KQL's `not` takes one sub-query; `not not x` does not parse, so the operand is always grouped.
        inner = self.convert_condition(cond.args[0], state)
        return f"not {_grouped(inner)}"

    # --- strings ---------------------------------------------------------------------------------
    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        return self.match_pattern(cond.field, string_pattern(cond), state, cond)

    convert_condition_field_eq_val_str_case_sensitive = convert_condition_field_eq_val_str

    def match_pattern(self, field: str, pattern: Pattern, state: ConversionState, cond: Any) -> str:
        caps = field_capabilities(state, field)
        if caps.is_text:
            raise text_field_error(field, cond, self.identifier)
        if caps.is_ip and pattern.has_wildcards:
            raise unsupported(f"wildcard value on ip field '{field}'", cond, self.identifier)
        if caps.is_ip and never_an_ip(pattern):  # an ip field cannot hold it; KQL has no `false`
            qfield = self.escape_and_quote_field(field)
            return f"({qfield}: * and not {qfield}: *)"
        if caps.is_boolean:
            value = self.bool_values[boolean_value(field, pattern, cond, self.identifier)]
            return f"{self.escape_and_quote_field(field)}: {value}"
        if pattern.cased or not pattern.has_case() or caps.is_ip:
            return self._field_value(field, pattern, cond)
        if caps.caseless:
            return self._field_value(caps.caseless, pattern.lower(), cond)
        return self._case_insensitive_without_subfield(field, caps, pattern, cond)

    def _case_insensitive_without_subfield(self, field: str, caps: FieldCapabilities, pattern: Pattern,
                                           cond: Any) -> str:
        spellings = _spelling_count(pattern)
        if spellings <= self.case_variants_limit:
            values = [self._value(p, field, cond) for p in _case_spellings(pattern)]
            return f"{self.escape_and_quote_field(field)}: ({' or '.join(values)})"
        shown = "".join(c.value if isinstance(c, Wildcard) else c for c in pattern.parts)
        reason = (f"case-insensitive match of '{shown}' on field '{field}': KQL has no case-insensitive "
                  f"operator, the field has no lowercase subfield in the mapping, and the value has "
                  f"{spellings} case spellings (limit case_variants={self.case_variants_limit})")
        if not self.case_approximation:
            raise unsupported(reason + "; -O case_approximation=true matches it case-sensitively", cond,
                              self.identifier)
        warnings.warn(f"{self._rule_label}: {reason}: matched case-sensitively (case_approximation=true)",
                      CaseApproximationWarning, stacklevel=2)
        return self._field_value(field, pattern, cond)

    def _field_value(self, field: str, pattern: Pattern, cond: Any) -> str:
        return f"{self.escape_and_quote_field(field)}: {self._value(pattern, field, cond)}"

    def _value(self, pattern: Pattern, field: str, cond: Any) -> str:
        if not pattern.has_wildcards:
            return escaping.kql_quoted(pattern.text)
        try:
            return escaping.kql_wildcard(pattern)
        except escaping.KqlValueError as error:
            raise unsupported(f"field '{field}': {error}", cond, self.identifier) from error

    # --- other value types -----------------------------------------------------------------------
    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaNumber)
        field = self.escape_and_quote_field(cond.field)
        if field_capabilities(state, cond.field).is_numeric:
            return f"{field}: {cond.value}"
        return f"{field}: {escaping.kql_quoted(str(cond.value))}"

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression,
                                          state: ConversionState) -> str:
        raise unsupported(f"regular expression on field '{cond.field}': KQL has no regular expressions "
                          "(use es_lucene, es_dsl or es_eql)", cond, self.identifier)

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> str:
        value = cond.value
        assert isinstance(value, SigmaCIDRExpression)
        if field_capabilities(state, cond.field).is_ip:
            # An ip field's term query takes CIDR notation.
            return f"{self.escape_and_quote_field(cond.field)}: {escaping.kql_quoted(str(value.network))}"
        # A keyword field holds text, and `10.1.0.*` would also match `10.1.0.256` or `10.1.0.5.example`;
        # KQL has no regular expression, so the addresses are listed (canonical dotted quads).
        network = value.network
        if network.version != 4:
            raise unsupported(f"cidr {value.cidr} on keyword field '{cond.field}': IPv6 text has several "
                              "spellings, only an ip-typed field can match it exactly", cond, self.identifier)
        if network.num_addresses > CIDR_ADDRESS_LIMIT:
            raise unsupported(
                f"cidr {value.cidr} on keyword field '{cond.field}': KQL has no regular expressions and '*' "
                f"would match other text, so only IPv4 networks of at most {CIDR_ADDRESS_LIMIT} addresses are "
                "listed; map the field as ip", cond, self.identifier)
        addresses = [escaping.kql_quoted(str(address)) for address in network]
        field = self.escape_and_quote_field(cond.field)
        return f"{field}: {addresses[0]}" if len(addresses) == 1 else f"{field}: ({' or '.join(addresses)})"

    def convert_condition_field_compare_op_val(self, cond: ConditionFieldEqualsValueExpression,
                                               state: ConversionState) -> str:
        value = cond.value
        assert isinstance(value, SigmaCompareExpression)
        return f"{self.escape_and_quote_field(cond.field)} {self.compare_operators[value.op]} {value.number}"

    def convert_condition_field_eq_field(self, cond: ConditionFieldEqualsValueExpression,
                                         state: ConversionState) -> str:
        raise fieldref_refused(cond, "KQL cannot compare two fields", self.identifier, self._rule_label)

    def convert_condition_field_eq_val_timestamp_part(self, cond: ConditionFieldEqualsValueExpression,
                                                      state: ConversionState) -> str:
        raise unsupported("timestamp part modifiers: KQL cannot extract date parts", cond, self.identifier)

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        # (KQL free text would be a lenient, analyzed multi_match over all fields: not Sigma's semantics.)
        raise keywords_error(cond, self.identifier)

    convert_condition_val_num = convert_condition_val_str
    convert_condition_val_re = convert_condition_val_str

    # --- formats ---------------------------------------------------------------------------------
    def finalize_query_discover_ndjson(self, rule: SigmaRule, query: str, index: int,
                                       state: ConversionState) -> list[dict[str, Any]]:
        return discover_saved_objects(rule, query, index_patterns(state))

    def finalize_output_discover_ndjson(self, queries: list[list[dict[str, Any]]]) -> str:
        return unique_ndjson([obj for objects in queries for obj in objects])


def _grouped(expr: str) -> str:
    """`expr` as one KQL sub-query: parenthesized unless it already is one group."""
    if expr.startswith("(") and expr.endswith(")") and _closes_at_end(expr):
        return expr
    return f"({expr})"


def _closes_at_end(expr: str) -> bool:
    depth, escaped, quoted = 0, False, False
    for index, char in enumerate(expr):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0 and index != len(expr) - 1:
                return False
    return depth == 0


def _spelling_count(pattern: Pattern) -> int:
    return math.prod(len(case_variants(c)) for c in pattern.text)


def _case_spellings(pattern: Pattern) -> list[Pattern]:
    """Every spelling of `pattern` that equals it when case is ignored (same wildcards)."""
    choices: list[list[Any]] = [
        [c] if isinstance(c, Wildcard) else case_variants(c) for c in pattern.chars()
    ]
    spellings = []
    for combination in itertools.product(*choices):
        parts: list[Any] = []
        for c in combination:
            if isinstance(c, str) and parts and isinstance(parts[-1], str):
                parts[-1] += c
            else:
                parts.append(c)
        spellings.append(Pattern(tuple(parts), cased=True))
    return spellings
