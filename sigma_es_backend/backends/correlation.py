"""Sigma correlation rules: one language-neutral model, read by every backend's correlation writer.

Semantics every backend keeps (documented in the README's correlation table):
- The referenced rules are converted first (pySigma keeps their unfinalized query on the rule); a
  referenced rule that is missing or failed makes the correlation rule fail, never the batch.
- group-by: events without a value in a group-by field take no part (no `null` group).
- timespan: EQL checks it per sequence (`maxspan`, inclusive). es_dsl and es_esql evaluate ONE window
  ending at the evaluation time (`now-<timespan>`): a detection scheduled every interval ≤ timespan
  sees every window ending at a run, not every window of the stream; no clock-aligned buckets.
- A condition is only checked for groups with at least one matching event (a group without events
  does not exist in any of the languages), so `lt: 5` means "1 to 4 events".
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

from sigma.conversion.state import ConversionState
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.exceptions import SigmaError, SigmaFeatureNotSupportedByBackendError
from sigma.rule import SigmaRule

from sigma_es_backend.backends.common import DEFAULT_INDEX, INDEX_STATE

# Sigma condition operator → the comparison operator of Painless, EQL and ES|QL alike.
OPERATORS: dict[SigmaCorrelationConditionOperator, str] = {
    SigmaCorrelationConditionOperator.GT: ">",
    SigmaCorrelationConditionOperator.GTE: ">=",
    SigmaCorrelationConditionOperator.LT: "<",
    SigmaCorrelationConditionOperator.LTE: "<=",
    SigmaCorrelationConditionOperator.EQ: "==",
}


# Sigma correlation types no backend converts, with the reason (pySigma 1.5 and 2.0 both define them).
UNSUPPORTED_TYPES: dict[SigmaCorrelationType, str] = {
    SigmaCorrelationType.VALUE_PERCENTILE: "value_percentile: the percentiles aggregation and ES|QL PERCENTILE are "
                                           "approximate (TDigest), and Sigma does not define the percentile's "
                                           "interpolation",
    SigmaCorrelationType.VALUE_MEDIAN: "value_median: the percentiles aggregation and ES|QL MEDIAN are approximate "
                                       "(TDigest)",
}
# value_sum / value_avg add up the values of one field: exactly, in integer arithmetic, on these types.
INTEGER_TYPES = ("long", "integer", "short", "byte")
VALUE_TYPES = (SigmaCorrelationType.VALUE_COUNT, SigmaCorrelationType.VALUE_SUM, SigmaCorrelationType.VALUE_AVG)


def rule_label(rule: SigmaRule | SigmaCorrelationRule) -> str:
    return str(rule.name or rule.id or rule.title)


class CorrelationError(SigmaFeatureNotSupportedByBackendError):
    """A correlation rule that cannot be converted exactly: names backend, rule and feature."""


def correlation_error(backend: str, rule: SigmaCorrelationRule, feature: str) -> CorrelationError:
    return CorrelationError(f"{backend}: correlation rule '{rule_label(rule)}': {feature}", source=rule.source)


@dataclass(frozen=True)
class Referenced:
    """A referenced rule: its label and its converted (unfinalized) detection query."""

    label: str
    query: Any
    indexes: tuple[str, ...]
    group_fields: tuple[str, ...]  # the group-by fields in this rule's events (aliases resolved)
    rule: SigmaRule | None = None  # the processed rule (ECS field names) and its conversion state:
    state: ConversionState | None = None  # what the detection outputs read (required fields, data source)


@dataclass(frozen=True)
class Correlation:
    rule: SigmaCorrelationRule
    type: SigmaCorrelationType
    group_by: tuple[str, ...]  # names as written in group-by (alias names included)
    seconds: int
    operator: str  # one of OPERATORS' values
    count: int | float
    field: str | None  # value_count's field
    rules: tuple[Referenced, ...]
    has_aliases: bool

    @property
    def indexes(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for ref in self.rules:
            seen.update(dict.fromkeys(ref.indexes))
        return tuple(seen)

    def threshold_fraction(self) -> Fraction:
        """The condition's number as an exact fraction of the decimal written in the rule (2.5 → 5/2),
        so sums and averages compare in integer arithmetic: sum op C/D ⇔ sum·D op C."""
        return Fraction(str(self.count))

    def requires_all_rules(self) -> bool:
        return (self.operator == ">=" and self.count == len(self.rules)) or (
            self.operator == ">" and self.count == len(self.rules) - 1)


def summed_field(backend: str, correlation: Correlation, field_type: str) -> str:
    """value_sum / value_avg: the field they add up, which must hold integers (a sum of floating-point
    values depends on the order of addition; keyword values are no numbers to the aggregations)."""
    if not correlation.field:
        raise correlation_error(backend, correlation.rule, f"{correlation.type.name.lower()} without a field")
    if field_type not in INTEGER_TYPES:
        raise correlation_error(backend, correlation.rule, f"{correlation.type.name.lower()} over {field_type} "
                                f"field '{correlation.field}': only integer fields ({', '.join(INTEGER_TYPES)}) "
                                "add up exactly")
    return correlation.field


def build(backend: str, rule: SigmaCorrelationRule) -> Correlation:
    """The model of `rule`, whose referenced rules were converted before it (same collection)."""
    condition = rule.condition
    if not isinstance(condition, SigmaCorrelationCondition):
        raise correlation_error(backend, rule, "extended (boolean) correlation conditions are not supported")
    if condition.op not in OPERATORS:
        raise correlation_error(backend, rule, f"condition operator '{condition.op.name.lower()}' is not supported")
    if rule.type in UNSUPPORTED_TYPES:
        raise correlation_error(backend, rule, UNSUPPORTED_TYPES[rule.type])
    field = condition.fieldref
    if isinstance(field, list):
        if len(field) != 1:
            raise correlation_error(backend, rule, "value_count over several fields is not supported")
        field = field[0]
    group_by = tuple(rule.group_by or ())
    references = rule.referenced_rules or rule.rules or []
    if not references:
        raise correlation_error(backend, rule, "no referenced rules")
    aliases = {alias.alias: alias for alias in rule.aliases}
    refs = []
    for reference in references:
        target = getattr(reference, "rule", None)
        if target is None:
            raise correlation_error(backend, rule, f"referenced rule '{reference.reference}' was not found")
        if not isinstance(target, SigmaRule):
            raise correlation_error(backend, rule, f"referenced rule '{reference.reference}' is a correlation "
                                    "rule: chained correlations are not supported")
        try:
            queries = target.get_conversion_result()
            states: list[ConversionState] = target.get_conversion_states()
        except SigmaError as error:
            raise correlation_error(backend, rule, f"referenced rule '{reference.reference}' was not converted: "
                                    f"{error}") from error
        if len(queries) != 1:
            raise correlation_error(backend, rule, f"referenced rule '{reference.reference}' has "
                                    f"{len(queries)} queries (one condition expected)")
        index = states[0].processing_state.get(INDEX_STATE) if states else None
        indexes = (tuple(i.strip() for i in index.split(",")) if isinstance(index, str)
                   else tuple(index) if index else DEFAULT_INDEX)
        group_fields = []
        for name in group_by:
            if name in aliases:
                mapping = {ref.reference: f for ref, f in aliases[name].mapping.items()}
                mapped = mapping.get(reference.reference) or next(
                    (f for ref, f in aliases[name].mapping.items() if getattr(ref, "rule", None) is target), None)
                if mapped is None:
                    raise correlation_error(backend, rule, f"alias '{name}' has no field for rule "
                                            f"'{reference.reference}'")
                group_fields.append(mapped)
            else:
                group_fields.append(name)
        refs.append(Referenced(reference.reference, queries[0], indexes, tuple(group_fields), target,
                               states[0] if states else None))
    return Correlation(rule, rule.type, group_by, int(rule.timespan.seconds), OPERATORS[condition.op],
                       condition.count, field, tuple(refs), bool(aliases))


class CorrelationBackendMixin:
    """pySigma's correlation entry point for our backends: build the model, let the backend write it.

    An output format exists for correlation rules when the backend has `finalize_correlation_<format>`
    (the `default` one is `correlation_query`; the detection format mixins add theirs); any other
    format fails with a clear error naming the rule.
    """

    correlation_methods: ClassVar[dict[str, str]] = {"default": "exact correlation query (see README)"}
    identifier: ClassVar[str]

    def correlation_query(self, correlation: Correlation) -> str:  # pragma: no cover - every backend overrides
        raise NotImplementedError

    def finalize_correlation_default(self, correlation: Correlation) -> str:
        return self.correlation_query(correlation)

    def correlation_formats(self) -> list[str]:
        formats: dict[str, str] = getattr(self, "formats", {})
        return [f for f in formats if hasattr(self, f"finalize_correlation_{f}")]

    def convert_correlation_rule(self, rule: SigmaCorrelationRule, output_format: str | None = None,
                                 method: str | None = None, callback: Any = None) -> list[Any]:
        backend: Any = self
        try:
            output_format = output_format or backend.default_format
            writer = getattr(self, f"finalize_correlation_{output_format}", None)
            if writer is None:
                raise correlation_error(self.identifier, rule, f"output format '{output_format}' is not "
                                        "available for correlation rules (available: "
                                        f"{', '.join(self.correlation_formats())})")
            backend.last_processing_pipeline.apply(rule)
            query = writer(build(self.identifier, rule))
            rule.set_conversion_result([query])
            return [query] if rule._output else []
        except SigmaError as error:
            if backend.collect_errors:
                backend.errors.append((rule, error))
                return []
            raise
