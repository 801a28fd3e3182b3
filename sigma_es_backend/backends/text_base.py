"""Shared base of the EQL and ES|QL backends: boolean languages with three-valued logic.

In both languages a comparison on a missing field yields null, and `not null` is null, so a
negated match would silently drop events that lack the field. Sigma says `not (field: x)` is true
there. Every field comparison below a NOT is therefore guarded: `(field <is present> and …)`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionNOT, ConditionOR
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.types import (
    CompareOperators,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaNumber,
    SigmaRegularExpression,
)

from sigma_es_backend.backends.common import (
    StringDispatchMixin,
    boolean_value,
    field_capabilities,
    has_not_ancestor,
    ipv4_cidr_regexp,
    keywords_error,
    never_an_ip,
    string_pattern,
    text_field_error,
    timestamp_part,
    translate_re,
    unsupported,
)
from sigma_es_backend.backends.escaping import regexp_from_pattern
from sigma_es_backend.backends.fieldref import JoinedField, Operand, check_field_comparison, field_comparison
from sigma_es_backend.backends.pattern import Pattern


class ThreeValuedTextBackend(StringDispatchMixin, TextQueryBackend):
    """Token tables + the string/regex/cidr logic; subclasses give the language's syntax."""

    precedence: ClassVar[tuple[type, type, type]] = (ConditionNOT, ConditionAND, ConditionOR)
    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    compare_operators: ClassVar[dict[CompareOperators, str]] = {
        CompareOperators.LT: "<", CompareOperators.LTE: "<=",
        CompareOperators.GT: ">", CompareOperators.GTE: ">=",
    }
    explicit_not_exists_expression: ClassVar[bool] = True

    # Language syntax, filled by subclasses.
    present_guard: ClassVar[str]  # "({field} != null and {expr})"
    string_eq: ClassVar[dict[bool, str]]  # case_insensitive → template with {field}, {value}
    string_wildcard: ClassVar[dict[bool, str]]
    string_regex: ClassVar[dict[bool, str]]
    cidr_ip_expression: ClassVar[str]
    fieldref_expressions: ClassVar[dict[str, str]]  # operation → template with {field}, {reference}
    concat_expression: ClassVar[str]  # {args}: a joined field's parts and separators, comma-separated
    never_expression: ClassVar[str] = "false"  # a comparison that can never be true
    timestamp_part_expression: ClassVar[str | None] = None  # {part} {field} {value}; None: no date functions
    num_eq_expression: ClassVar[str] = "{field} == {value}"
    # True when the case-insensitive operators fold ASCII letters only (Elasticsearch EQL: they
    # become case_insensitive term/wildcard/regexp queries).
    ascii_case_folding: ClassVar[bool] = False
    # True when the case-insensitive equality operator also reads `*`/`?` as wildcards (EQL `:`):
    # values are then rendered through the wildcard path, which escapes or falls back to a regex.
    insensitive_eq_is_wildcard: ClassVar[bool] = False
    # True when string comparisons, LIKE and RLIKE on an analyzed `text` field read the field's whole
    # value (ES|QL: the exact keyword subfield or `_source`), so text fields match exactly like keyword
    # fields. False (EQL): the language's text-field behaviour is not documented as exact — error.
    text_fields_exact: ClassVar[bool] = False

    def escape_and_quote_field(self, field_name: str) -> str:
        return self.quote_field(field_name)

    # hooks for the language
    def quote_field(self, field: str) -> str:
        raise NotImplementedError

    def string_literal(self, text: str) -> str:
        raise NotImplementedError

    def wildcard_literal(self, pattern: Pattern) -> str | None:
        """The wildcard pattern literal, or None when the language cannot express it."""
        raise NotImplementedError

    def lowered_field(self, field: str) -> str:
        """Field expression for case-insensitive comparison against a lowercased value, if needed."""
        return self.quote_field(field)

    def lower_values(self) -> bool:
        return False

    # --- guard -----------------------------------------------------------------------------------
    def guarded(self, cond: Any, field: str, expr: str) -> str:
        if has_not_ancestor(cond):
            return self.present_guard.format(field=self.quote_field(field), expr=expr)
        return expr

    # --- strings ---------------------------------------------------------------------------------
    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        return self.guarded(cond, cond.field, self.match_pattern(cond.field, string_pattern(cond), state, cond))

    convert_condition_field_eq_val_str_case_sensitive = convert_condition_field_eq_val_str

    def match_pattern(self, field: str, pattern: Pattern, state: ConversionState, cond: Any) -> str:
        caps = field_capabilities(state, field)
        if caps.is_text and not self.text_fields_exact:
            raise text_field_error(field, cond, self.identifier)
        if caps.is_boolean:
            value = self.bool_values[boolean_value(field, pattern, cond, self.identifier)]
            return self.eq_expression.format(field=self.quote_field(field), value=value)
        insensitive = not pattern.cased and pattern.has_case() and not caps.is_ip
        if caps.is_ip and pattern.has_wildcards:
            raise unsupported(f"wildcard value on ip field '{field}'", cond, self.identifier)
        if caps.is_ip and never_an_ip(pattern):
            return self.never_expression
        if insensitive and self.ascii_case_folding and pattern.has_non_ascii_case():
            # The language's case-insensitive operators fold ASCII only: spell the case forms out.
            regexp = regexp_from_pattern(pattern, case_insensitive=True, delimiter_escape=False)
            return self.string_regex[False].format(field=self.quote_field(field), value=self.string_literal(regexp))
        if insensitive and self.lower_values():
            pattern = pattern.lower()
        qfield = self.lowered_field(field) if insensitive else self.quote_field(field)
        if not pattern.has_wildcards and not (insensitive and self.insensitive_eq_is_wildcard):
            return self.string_eq[insensitive].format(field=qfield, value=self.string_literal(pattern.text))
        literal = self.wildcard_literal(pattern)
        if literal is not None:
            return self.string_wildcard[insensitive].format(field=qfield, value=literal)
        # A literal * or ? the wildcard syntax cannot escape: the same pattern as a regular expression.
        # Case is already handled (lowered values, or the language's case-insensitive operator).
        regexp = regexp_from_pattern(pattern, case_insensitive=False, delimiter_escape=False)
        return self.string_regex[insensitive].format(field=qfield, value=self.string_literal(regexp))

    # --- other value types -----------------------------------------------------------------------
    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaNumber)
        caps = field_capabilities(state, cond.field)
        value = str(cond.value) if caps.is_numeric else self.string_literal(str(cond.value))
        return self.guarded(cond, cond.field, self.num_eq_expression.format(field=self.quote_field(cond.field),
                                                                             value=value))

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression,
                                          state: ConversionState) -> str:
        value = cond.value
        assert isinstance(value, SigmaRegularExpression)
        caps = field_capabilities(state, cond.field)
        if (caps.is_text and not self.text_fields_exact) or caps.is_ip or caps.is_numeric:
            raise unsupported(f"regular expression on {caps.type} field '{cond.field}'", cond, self.identifier)
        translated = translate_re(cond, self.identifier, escape_delimiter=False)
        expr = self.string_regex[False].format(field=self.quote_field(cond.field),
                                               value=self.string_literal(translated))
        return self.guarded(cond, cond.field, expr)

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> str:
        value = cond.value
        assert isinstance(value, SigmaCIDRExpression)
        caps = field_capabilities(state, cond.field)
        if caps.is_ip:
            expr = self.cidr_ip_expression.format(field=self.quote_field(cond.field),
                                                  value=self.string_literal(str(value.network)))
        elif (caps.is_text and not self.text_fields_exact) or caps.is_numeric:
            raise unsupported(f"cidr on {caps.type} field '{cond.field}'", cond, self.identifier)
        else:
            regexp = ipv4_cidr_regexp(value, cond, self.identifier)
            expr = self.string_regex[False].format(field=self.quote_field(cond.field),
                                                   value=self.string_literal(regexp))
        return self.guarded(cond, cond.field, expr)

    def convert_condition_field_compare_op_val(self, cond: ConditionFieldEqualsValueExpression,
                                               state: ConversionState) -> str:
        value = cond.value
        assert isinstance(value, SigmaCompareExpression)
        expr = f"{self.quote_field(cond.field)} {self.compare_operators[value.op]} {value.number}"
        return self.guarded(cond, cond.field, expr)

    def operand(self, operand: Operand) -> str:
        """One side of a field reference: a field, or a joined field's parts concatenated (null when a
        part is null, in both languages, as the joined value does not exist then)."""
        if not isinstance(operand, JoinedField):
            return self.quote_field(operand)
        args = [self.quote_field(operand.parts[0])]
        for part in operand.parts[1:]:
            args += [self.string_literal(operand.separator), self.quote_field(part)]
        return self.concat_expression.format(args=", ".join(args))

    def convert_condition_field_eq_field(self, cond: ConditionFieldEqualsValueExpression,
                                         state: ConversionState) -> str:
        comparison = field_comparison(cond)
        check_field_comparison(state, comparison, cond, self.identifier)
        template = self.fieldref_expressions[comparison.operation]
        expr = template.format(field=self.operand(comparison.field), reference=self.operand(comparison.reference))
        if has_not_ancestor(cond):  # the comparison is null when a field (or a joined part) is missing
            for name in reversed(comparison.fields()):
                expr = self.present_guard.format(field=self.quote_field(name), expr=expr)
        return expr

    def convert_condition_field_eq_val_timestamp_part(self, cond: ConditionFieldEqualsValueExpression,
                                                      state: ConversionState) -> str:
        if self.timestamp_part_expression is None:
            raise unsupported("timestamp part modifiers: the language has no date functions", cond, self.identifier)
        esql_part, _, value = timestamp_part(state, cond, self.identifier)
        expr = self.timestamp_part_expression.format(part=self.string_literal(esql_part),
                                                     field=self.quote_field(cond.field), value=value)
        return self.guarded(cond, cond.field, expr)

    def convert_condition_val_str(self, cond: Any, state: ConversionState) -> str:
        raise keywords_error(cond, self.identifier)

    convert_condition_val_num = convert_condition_val_str
    convert_condition_val_re = convert_condition_val_str
