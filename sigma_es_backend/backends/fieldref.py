"""Field references (Sigma `fieldref`): the two sides a backend compares, as data.

A side is one ECS field, or a Sigma field the integration stores split over several fields: Sysmon's
`User` ("DOMAIN\\name") is `user.domain` + `user.name` in ECS. Such a side is a `JoinedField`: its
value is its parts' values joined with the separator, and it has no value when a part has none (as
a missing field has none). The pipeline's split transformation
(`sigma_es_backend.pipelines.transformations.SplitDomainUserTransformation`) writes a
`SigmaJoinedFieldReference`, which says which side is joined; every backend reads a fieldref through
`field_comparison()` and renders both sides itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sigma.conversion.state import ConversionState
from sigma.types import SigmaFieldReference

from sigma_es_backend.backends.common import field_capabilities, unsupported

FIELDREF_OPERATIONS = ("equals", "startswith", "endswith", "contains")
# Pipeline state: the Sigma names of the rule's split fields (set by the split transformation).
JOINED_FIELDS_STATE = "sigma_es_joined_fields"


@dataclass(frozen=True)
class JoinedField:
    """A Sigma field kept by the integration as several fields: value = parts joined by `separator`."""

    sigma_name: str
    parts: tuple[str, ...]
    separator: str

    def __str__(self) -> str:
        return f" + {self.separator!r} + ".join(self.parts)


Operand = str | JoinedField  # one ECS field, or a joined one

# Query DSL has no field-to-field comparison: a Painless script query over both sides' doc values,
# case-insensitive as Sigma is; any value of one side against any of the other; false when a side has no
# value (es_dsl's comparison, and es_lucene's script filter beside its query_string). Each side is
# {"fields": [...], "separator": s}: one field, or the parts of a joined field (Sysmon User = user.domain +
# "\\" + user.name); its values are every combination of its fields' values joined with the separator.
FIELDREF_SCRIPT = (
    "List joined(Map doc, Map side) { List out = new ArrayList(); out.add(''); "
    "for (int i = 0; i < side.fields.size(); ++i) { String name = side.fields.get(i); "
    "if (!doc.containsKey(name)) { return new ArrayList(); } List next = new ArrayList(); "
    "for (String prefix : out) { for (def v : doc[name]) { "
    "next.add(i == 0 ? v.toString() : prefix + side.separator + v.toString()); } } out = next; } "
    "return out; } "
    "List left = joined(doc, params.field); if (left.isEmpty()) { return false; } "
    "List right = joined(doc, params.reference); "
    "for (String x : left) { String a = x.toLowerCase(); for (String y : right) { String b = y.toLowerCase(); "
    "if (params.operation == 'equals' ? a.equals(b) : params.operation == 'startswith' ? a.startsWith(b) "
    ": params.operation == 'endswith' ? a.endsWith(b) : a.contains(b)) { return true; } } } return false;"
)


def operand_fields(operand: Operand) -> tuple[str, ...]:
    return operand.parts if isinstance(operand, JoinedField) else (operand,)


def operand_label(operand: Operand) -> str:
    """How errors name a side: 'winlog.event_data.ParentUser', or 'User' (user.domain + '\\\\' + user.name)."""
    if isinstance(operand, JoinedField):
        return f"'{operand.sigma_name}' ({operand})"
    return f"'{operand}'"


@dataclass
class SigmaJoinedFieldReference(SigmaFieldReference):
    """A fieldref with a joined field on either side (or both).

    `field_join`: the detection item's own field is joined (the item keeps the Sigma name, e.g. `User`).
    `reference_join`: the referenced field is joined (`field` then holds its Sigma name).
    A side without a join is the plain field name as the pipeline mapped it. pySigma's field mappings
    rebuild any SigmaFieldReference as a plain one, so the split transformation runs after the field
    mapping (sigma_es_backend.pipelines.ecs).
    """

    field_join: JoinedField | None = None
    reference_join: JoinedField | None = None


@dataclass(frozen=True)
class FieldComparison:
    """`field <operation> reference`: the field's value equals / starts with / ends with / contains the
    referenced field's value."""

    field: Operand
    reference: Operand
    operation: str

    def fields(self) -> tuple[str, ...]:
        """Every ECS field the comparison reads: both sides must have a value for it to hold."""
        return tuple(dict.fromkeys(operand_fields(self.field) + operand_fields(self.reference)))

    def describe(self) -> str:
        return f"{operand_label(self.field)} {self.operation} {operand_label(self.reference)}"


def fieldref_operation(ref: SigmaFieldReference) -> str:
    """Which comparison a `fieldref` asks for: the referenced field's value equals / is a prefix of /
    a suffix of / is contained in the field's value."""
    if ref.starts_with and ref.ends_with:
        return "contains"
    if ref.starts_with:
        return "startswith"
    if ref.ends_with:
        return "endswith"
    return "equals"


def field_comparison(cond: Any) -> FieldComparison:
    """The two sides of a `field = fieldref` condition, joined where the pipeline split a field."""
    ref = cond.value
    assert isinstance(ref, SigmaFieldReference)
    field: Operand = cond.field
    reference: Operand = ref.field
    if isinstance(ref, SigmaJoinedFieldReference):
        field = ref.field_join or field
        reference = ref.reference_join or reference
    return FieldComparison(field, reference, fieldref_operation(ref))


def check_field_comparison(state: ConversionState, comparison: FieldComparison, cond: Any, backend: str,
                           allowed: tuple[str, ...] = ("keyword",)) -> None:
    """Field-to-field comparisons read both fields' values (doc values, or the language's functions),
    which only keyword fields offer everywhere. A split field still named as such lost its join: a
    pipeline after the ECS one rebuilt the reference (pySigma's field mappings rebuild every
    SigmaFieldReference), and the query would compare with a field no event has."""
    joined = state.processing_state.get(JOINED_FIELDS_STATE) or ()
    for side in (comparison.field, comparison.reference):
        if isinstance(side, str) and side in joined:
            raise unsupported(f"field reference (fieldref) {comparison.describe()}: '{side}' is split into several "
                              "fields by the integration, but its join was lost on the way (a processing pipeline "
                              "applied after the ECS pipeline rebuilt the field reference); apply field mappings "
                              "before the ECS pipeline", cond, backend)
    for name in comparison.fields():
        caps = field_capabilities(state, name)
        if caps.type not in allowed:
            raise unsupported(f"field reference (fieldref) on {caps.type} field '{name}': only "
                              f"{' / '.join(allowed)} fields can be compared with another field", cond, backend)


def fieldref_refused(cond: Any, reason: str, backend: str, rule_label: str = "") -> Exception:
    """The error of a language that cannot compare two fields, naming the rule and both sides."""
    where = f"{rule_label}: " if rule_label else ""
    return unsupported(f"{where}field reference (fieldref) {field_comparison(cond).describe()}: {reason}",
                       cond, backend)


def _script_side(operand: Operand) -> dict[str, Any]:
    if isinstance(operand, JoinedField):
        return {"fields": list(operand.parts), "separator": operand.separator}
    return {"fields": [operand], "separator": ""}


def fieldref_script_query(cond: Any, state: ConversionState, backend: str) -> dict[str, Any]:
    """The Painless script query of a `field = fieldref` condition (both sides keyword fields)."""
    comparison = field_comparison(cond)
    check_field_comparison(state, comparison, cond, backend)
    params = {"field": _script_side(comparison.field), "reference": _script_side(comparison.reference),
              "operation": comparison.operation}
    return {"script": {"script": {"lang": "painless", "source": FIELDREF_SCRIPT, "params": params}}}
