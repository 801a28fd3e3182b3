"""pySigma transformations for the ways ECS reshapes Sigma's (Sysmon-shaped) values.

Each is a dataclass: its fields are its YAML parameters, as for pySigma's own transformations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sigma.conditions import ConditionAND, ConditionOR
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaTransformationError
from sigma.processing.transformations.base import DetectionItemTransformation, PreprocessingTransformation
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaExists,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaString,
    SpecialChars,
)

from sigma_es_backend.backends.fieldref import JOINED_FIELDS_STATE, JoinedField, SigmaJoinedFieldReference
from sigma_es_backend.backends.pattern import Pattern, PatternPart, Wildcard
from sigma_es_backend.backends.typetests import IS_FIELD_REFERENCE

DATA_SOURCE_STATE = "sigma_es_data_source"
# Rule custom attribute holding per-rule warnings (list of strings) for reports and the CLI.
WARNINGS_ATTRIBUTE = "sigma_es_warnings"
WARNINGS_STATE = "sigma_es_warnings"  # pipeline state key read by sigma_es_backend.conversion
UNMAPPED_FIELDS_ATTRIBUTE = "sigma_es_unmapped_fields"
DATA_SOURCES_STATE = "sigma_es_data_sources"  # every data source whose logsource matched (should be one)
# How unmapped Sigma field names are treated: `-O unmapped_fields=passthrough` (a backend option, which
# pySigma exposes to pipelines as the variable `backend_unmapped_fields`) or a pipeline variable
# `unmapped_fields` in a pipeline YAML file.
UNMAPPED_FIELDS_VARS = ("backend_unmapped_fields", "unmapped_fields")
UNMAPPED_FIELDS_MODES = ("strict", "passthrough")


def correlation_field_names(rule: SigmaCorrelationRule) -> list[str]:
    """The Sigma field names a correlation rule groups or counts by (alias names resolved to their fields)."""
    aliases = {alias.alias: alias for alias in rule.aliases}
    names: list[str] = []
    for name in rule.group_by or ():
        names.extend(aliases[name].mapping.values() if name in aliases else [name])
    fieldref = getattr(rule.condition, "fieldref", None)
    names.extend(fieldref if isinstance(fieldref, list) else [fieldref] if fieldref else [])
    return list(dict.fromkeys(names))


def rule_label(rule: SigmaRule | SigmaCorrelationRule | None) -> str:
    """`rule 'Title' (id)`: how pipeline errors name the rule (pySigma appends its file)."""
    if rule is None:
        return "rule"
    title = getattr(rule, "title", None) or "?"
    rule_id = getattr(rule, "id", None)
    return f"rule '{title}'" + (f" ({rule_id})" if rule_id else "")


def add_rule_warning(rule: SigmaRule | SigmaCorrelationRule, message: str) -> None:
    warnings = rule.custom_attributes.setdefault(WARNINGS_ATTRIBUTE, [])
    if message not in warnings:
        warnings.append(message)


def rule_warnings(rule: SigmaRule | SigmaCorrelationRule) -> list[str]:
    """Warnings the pipeline attached to a rule while converting it (e.g. unmapped fields passed through)."""
    return list(getattr(rule, "custom_attributes", {}).get(WARNINGS_ATTRIBUTE, []))


class _RuleAwareTransformation(DetectionItemTransformation):
    """A detection item transformation that remembers the rule, so that its errors can name it."""

    _rule: SigmaRule | SigmaCorrelationRule | None = None

    def apply(self, rule: SigmaRule | SigmaCorrelationRule) -> None:
        self._rule = rule
        super().apply(rule)

    def error(self, message: str, item: SigmaDetectionItem) -> SigmaTransformationError:
        return SigmaTransformationError(f"{rule_label(self._rule)}: {message}", source=item.source)


def _sigma_string(parts: list[PatternPart], cased: bool) -> SigmaString:
    """Build a SigmaString from literal characters and wildcards (no re-parsing of escapes)."""
    merged: list[str | SpecialChars] = []
    for part in parts:
        if isinstance(part, Wildcard):
            special = SpecialChars.WILDCARD_MULTI if part is Wildcard.MULTI else SpecialChars.WILDCARD_SINGLE
            if special is SpecialChars.WILDCARD_MULTI and merged and merged[-1] is special:
                continue  # ** == *
            merged.append(special)
        elif merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    result: SigmaString = SigmaCasedString("") if cased else SigmaString("")
    result.s = tuple(merged)  # type: ignore[assignment]
    return result


def _item(field_name: str, parts: list[PatternPart], cased: bool, source) -> SigmaDetectionItem:
    return SigmaDetectionItem(field_name, [], [_sigma_string(parts, cased)], source=source)


def _linked(items: list, linking: type[ConditionAND | ConditionOR]) -> SigmaDetection:
    return SigmaDetection(detection_items=items, item_linking=linking)


def _mentions_field(detection: SigmaDetection, field_name: str) -> bool:
    """Some detection item of `detection` is on `field_name` or has a field reference to it."""
    return any(_mentions_field(item, field_name) if isinstance(item, SigmaDetection)
               else item.field == field_name or any(IS_FIELD_REFERENCE[type(v)] and v.field == field_name
                                                    for v in item.value)
               for item in detection.detection_items)


def _plain_item(processing_item: Any) -> bool:
    """The processing item has no detection item or field name conditions (nothing pySigma evaluates
    per detection item, which could fail)."""
    if processing_item is None:
        return True
    return (getattr(processing_item, "detection_item_condition_expression", None) is None
            and getattr(processing_item, "field_name_condition_expression", None) is None
            and not processing_item.detection_item_conditions and not processing_item.field_name_conditions
            and processing_item.detection_item_condition_linking is not None
            and processing_item.field_name_condition_linking is not None)


class _FieldRewriteTransformation(_RuleAwareTransformation):
    """Rewrites each value of one Sigma field (`source_field`, declared by the subclass) into conditions on
    the fields the integration writes instead, keeping the item's value linking (or / all).

    A field reference (`fieldref`) to the source field from another field is rewritten by
    `_reference_value`; it fails unless the subclass can express the rewritten field's value.
    """

    source_field: str

    def apply(self, rule: SigmaRule | SigmaCorrelationRule) -> None:
        # A rule that mentions the field nowhere is left as it is: pySigma's walk over every detection
        # item (a tenth of the pipeline's time in bulk conversion) is skipped when it could change nothing.
        if isinstance(rule, SigmaRule) and _plain_item(self.processing_item) and not any(
                _mentions_field(detection, self.source_field) for detection in rule.detection.detections.values()):
            self._rule = rule
            super(DetectionItemTransformation, self).apply(rule)  # all DetectionItemTransformation.apply adds
            return
        super().apply(rule)

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> SigmaDetection | SigmaDetectionItem | None:
        if detection_item.field == self.source_field:
            alternatives = [self._value_condition(value, detection_item) for value in detection_item.value]
            return _linked(alternatives, detection_item.value_linking)
        if not any(self._references_source(value) for value in detection_item.value):
            return None
        detection_item.value = [self._reference_value(value, detection_item) if self._references_source(value)
                                else value for value in detection_item.value]
        return detection_item

    def _references_source(self, value) -> bool:
        if isinstance(value, SigmaJoinedFieldReference) and value.reference_join is not None:
            return False  # already rewritten
        return IS_FIELD_REFERENCE[type(value)] and value.field == self.source_field

    def _value_condition(self, value, item: SigmaDetectionItem) -> SigmaDetection:
        raise NotImplementedError

    def _reference_value(self, value: SigmaFieldReference, item: SigmaDetectionItem) -> SigmaFieldReference:
        raise self.error(f"field '{item.field}' is compared with field '{self.source_field}' (fieldref), which the "
                         "integration rewrites into other fields: the comparison cannot be expressed exactly", item)


@dataclass
class SplitDomainUserTransformation(_FieldRewriteTransformation):
    """`User: DOMAIN\\name` (Sysmon) → `user.domain` + `user.name` (ECS).

    A Sigma pattern P matches "D\\N" exactly when, for some position in P that consumes the
    backslash, the part before matches D and the part after matches N. That position is a literal
    backslash, a `?`, or a `*` (which then spans the end of D and the start of N). User and domain
    names never contain a backslash themselves.
    """

    source_field: str = "User"
    domain: str = "user.domain"
    name: str = "user.name"

    def apply(self, rule: SigmaRule | SigmaCorrelationRule) -> None:
        super().apply(rule)
        if self._pipeline is not None:  # backends refuse a reference to this name that lost its join
            joined = self._pipeline.state.setdefault(JOINED_FIELDS_STATE, [])
            if self.source_field not in joined:
                joined.append(self.source_field)

    @property
    def joined(self) -> JoinedField:
        return JoinedField(self.source_field, (self.domain, self.name), "\\")

    def _reference_value(self, value: SigmaFieldReference, item: SigmaDetectionItem) -> SigmaFieldReference:
        # `X|fieldref: User`: X compared with domain + "\\" + name (the split field's original value).
        return SigmaJoinedFieldReference(value.field, value.starts_with, value.ends_with,
                                         field_join=getattr(value, "field_join", None), reference_join=self.joined)

    def _value_condition(self, value, item: SigmaDetectionItem) -> SigmaDetection:
        if isinstance(value, SigmaFieldReference):
            # `User|fieldref: X`: the joined value of the split field compared with X (already mapped: this
            # transformation runs after the field mapping), or with itself joined for `User|fieldref: User`.
            joined_reference = self.joined if self._references_source(value) else getattr(value, "reference_join", None)
            reference = SigmaJoinedFieldReference(value.field, value.starts_with, value.ends_with,
                                                  field_join=self.joined, reference_join=joined_reference)
            return _linked([SigmaDetectionItem(self.source_field, [], [reference], source=item.source)], ConditionAND)
        if isinstance(value, SigmaNull):
            return _linked([SigmaDetectionItem(self.domain, [], [SigmaNull()], source=item.source),
                            SigmaDetectionItem(self.name, [], [SigmaNull()], source=item.source)], ConditionAND)
        if isinstance(value, SigmaExists):
            return _linked([SigmaDetectionItem(self.name, [], [value], source=item.source)], ConditionAND)
        if not isinstance(value, SigmaString):
            raise self.error(
                f"field '{self.source_field}' is split into {self.domain} and {self.name} in ECS: "
                f"a {type(value).__name__} value cannot be split exactly",
                item,
            )
        pattern = Pattern.from_sigma(value)
        chars = list(pattern.chars())
        alternatives: list[SigmaDetection] = []
        seen: set[tuple] = set()
        for index, char in enumerate(chars):
            if char == "\\" or char is Wildcard.SINGLE:
                domain_part, name_part = chars[:index], chars[index + 1 :]
            elif char is Wildcard.MULTI:
                domain_part, name_part = chars[:index] + [Wildcard.MULTI], [Wildcard.MULTI] + chars[index + 1 :]
            else:
                continue
            if "\\" in domain_part or "\\" in name_part:
                continue
            key = (tuple(map(str, domain_part)), tuple(map(str, name_part)))
            if key in seen:
                continue
            seen.add(key)
            conjuncts = [
                _item(field_name, part, pattern.cased, item.source)
                for field_name, part in ((self.domain, domain_part), (self.name, name_part))
                if not all(p is Wildcard.MULTI for p in part) or not part
            ]
            alternatives.append(_linked(conjuncts, ConditionAND))
        if not alternatives:
            # No position can consume the backslash: the value can never match a DOMAIN\name string.
            # Express "matches nothing" exactly: the user name is both present and absent.
            return _linked([SigmaDetectionItem(self.name, [], [SigmaNull()], source=item.source),
                            SigmaDetectionItem(self.name, [], [SigmaExists(True)], source=item.source)],
                           ConditionAND)
        return _linked(alternatives, ConditionOR)


@dataclass
class HashesTransformation(_FieldRewriteTransformation):
    """`Hashes: MD5=…,SHA256=…,IMPHASH=…` (Sysmon) → one ECS field per algorithm.

    `ALGO=value` values (with or without surrounding `*` from contains) become an exact match of
    `value` on that algorithm's field; values without an algorithm are matched on every hash field.
    """

    source_field: str = "Hashes"
    algorithms: dict[str, str] = field(default_factory=dict)

    def _value_condition(self, value, item: SigmaDetectionItem) -> SigmaDetection:
        if not isinstance(value, SigmaString):
            raise self.error(
                f"field '{self.source_field}' is split into one field per hash algorithm in ECS: "
                f"a {type(value).__name__} value cannot be mapped exactly",
                item,
            )
        pattern = Pattern.from_sigma(value)
        parts = list(pattern.parts)  # literal runs and wildcards (IOC lists: thousands of values)
        start, end = 0, len(parts)
        while start < end and parts[start] is Wildcard.MULTI:
            start += 1
        while end > start and parts[end - 1] is Wildcard.MULTI:
            end -= 1
        inner = parts[start:end]
        text = "".join(p for p in inner if isinstance(p, str))
        algorithm, sep, digest = text.partition("=")
        if sep and not any(isinstance(p, Wildcard) for p in inner) and algorithm.upper() in self.algorithms:
            return _linked([_item(self.algorithms[algorithm.upper()], [digest] if digest else [], pattern.cased,
                                  item.source)], ConditionAND)
        if sep:
            raise self.error(
                f"field '{self.source_field}': value {value.original!r} names an unknown hash algorithm "
                f"(known: {', '.join(sorted(self.algorithms))})",
                item,
            )
        return _linked([_item(target, parts, pattern.cased, item.source)
                        for target in dict.fromkeys(self.algorithms.values())], ConditionOR)


@dataclass
class ValueMapTransformation(_FieldRewriteTransformation):
    """A field whose closed set of values the integration rewrites into another field.

    Sysmon `Initiated: 'true'` becomes `network.direction: egress` (the integrations drop Initiated).
    Each Sigma value must be one of the map's keys (case-insensitive unless `|cased`); a pattern or an
    unknown value fails the rule: the rewritten data can only hold the mapped values. Null and exists
    carry over: the target field is set exactly when the source field is.
    """

    source_field: str = ""
    target_field: str = ""
    values: dict[str, list[str]] = field(default_factory=dict)

    def _value_condition(self, value, item: SigmaDetectionItem) -> SigmaDetection:
        if isinstance(value, SigmaNull | SigmaExists):
            return _linked([SigmaDetectionItem(self.target_field, [], [value], source=item.source)], ConditionAND)
        if isinstance(value, SigmaBool):
            text, cased = str(value.boolean).lower(), False
        elif isinstance(value, SigmaNumber):
            text, cased = str(value.number), False
        elif isinstance(value, SigmaString) and not value.contains_special():
            text, cased = str(value), isinstance(value, SigmaCasedString)
        else:
            raise self.error(
                f"field '{self.source_field}' is rewritten to {self.target_field} by the integration: only "
                f"the values {', '.join(sorted(self.values))} can be mapped exactly, not {value!s}", item)
        mapped = next((targets for key, targets in self.values.items()
                       if (key == text if cased else key.lower() == text.lower())), None)
        if mapped is None:
            raise self.error(
                f"field '{self.source_field}' is rewritten to {self.target_field} by the integration: value "
                f"'{text}' is not one of {', '.join(sorted(self.values))}", item)
        # The mapped values are the exact keywords the integration writes: matched case-sensitively.
        return _linked([SigmaDetectionItem(self.target_field, [], [_sigma_string(list(target), cased=True)],
                                           source=item.source)
                        for target in mapped], ConditionOR)


@dataclass
class TokenListTransformation(_FieldRewriteTransformation):
    """A whitespace-separated list the integration stores as an array of its tokens (PrivilegeList).

    "The list contains X" (X without whitespace) holds exactly when one token contains X, so `contains`
    values carry over to the array; any other match (equality, startswith, …) depends on the whole
    string, which no longer exists, and fails the rule.
    """

    source_field: str = ""
    target_field: str = ""

    def _value_condition(self, value, item: SigmaDetectionItem) -> SigmaDetection:
        if isinstance(value, SigmaNull | SigmaExists):
            return _linked([SigmaDetectionItem(self.target_field, [], [value], source=item.source)], ConditionAND)
        if isinstance(value, SigmaString):
            chars = list(Pattern.from_sigma(value).chars())
            inner = chars[1:-1]
            if (len(chars) > 2 and chars[0] is Wildcard.MULTI and chars[-1] is Wildcard.MULTI
                    and not any(isinstance(c, str) and c.isspace() for c in inner)):
                return _linked([SigmaDetectionItem(self.target_field, [], [value], source=item.source)], ConditionAND)
        raise self.error(
            f"field '{self.source_field}' is a whitespace-separated list that the integration splits into "
            f"the tokens of {self.target_field}: only `contains` of a text without whitespace can be matched "
            f"exactly, not {getattr(value, 'original', value)!r}", item)


@dataclass
class StrictFieldsTransformation(_RuleAwareTransformation):
    """Fail the rule on a field the data source does not map: a raw Sigma name would match nothing.

    With `unmapped_fields=passthrough` (see UNMAPPED_FIELDS_VARS) an unmapped field keeps its Sigma name
    and the rule gets a warning naming it. Fields declared `unavailable` fail in both modes: the
    shipper reshapes them, so the raw name does not exist either.
    """

    known_fields: list[str] = field(default_factory=list)
    data_source: str = ""
    logsource: str = ""
    unavailable: dict[str, str] = field(default_factory=dict)
    # Sigma names mapped to exactly one field with the value unchanged: the only ones a correlation can group by.
    single_field_names: list[str] = field(default_factory=list)

    def _mode(self) -> str:
        variables = getattr(self._pipeline, "vars", None) or {}
        for name in UNMAPPED_FIELDS_VARS:
            if name in variables:
                mode = str(variables[name]).lower()
                if mode not in UNMAPPED_FIELDS_MODES:
                    raise SigmaTransformationError(
                        f"unmapped_fields={variables[name]!r}: expected one of {', '.join(UNMAPPED_FIELDS_MODES)}")
                return mode
        return "strict"

    def _warn_passthrough(self, rule: SigmaRule | SigmaCorrelationRule, name: str, where: str) -> None:
        passed = rule.custom_attributes.setdefault(UNMAPPED_FIELDS_ATTRIBUTE, [])
        if name not in passed:
            passed.append(name)
        prefix = "unmapped fields passed through with their Sigma names"
        message = f"{prefix} ({where}): {', '.join(passed)}"
        # One line per rule naming all fields; on the rule and in the pipeline state (WARNINGS_STATE), where
        # the conversion layer collects per-rule warnings.
        stores = [rule.custom_attributes.setdefault(WARNINGS_ATTRIBUTE, [])]
        if self._pipeline is not None:
            stores.append(self._pipeline.state.setdefault(WARNINGS_STATE, []))
        for warnings in stores:
            warnings[:] = [w for w in warnings if not str(w).startswith(prefix)]
            warnings.append(message)

    def apply(self, rule: SigmaRule | SigmaCorrelationRule) -> None:
        super().apply(rule)
        if isinstance(rule, SigmaCorrelationRule):
            for name in correlation_field_names(rule):
                self._check_correlation_field(rule, name)

    def _check_correlation_field(self, rule: SigmaCorrelationRule, name: str) -> None:
        # Grouping or counting needs the one field that holds the whole Sigma value; a split (User),
        # per-algorithm (Hashes) or rewritten (value_map) field would group on a name that does not exist.
        where = f"data source '{self.data_source}' (log source {self.logsource})"
        if name in self.unavailable:
            raise SigmaTransformationError(f"{rule_label(rule)}: field '{name}' cannot be grouped or counted "
                                           f"exactly in {where}: {self.unavailable[name]}", source=rule.source)
        if name in self.known_fields:
            if name not in self.single_field_names:
                raise SigmaTransformationError(
                    f"{rule_label(rule)}: field '{name}' cannot be grouped or counted exactly in {where}: "
                    "the integration does not keep its value in one field", source=rule.source)
            return
        if self._mode() == "passthrough":
            self._warn_passthrough(rule, name, where)
            return
        raise SigmaTransformationError(f"{rule_label(rule)}: field '{name}' has no ECS mapping for {where}",
                                       source=rule.source)

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> None:
        # a fieldref's referenced field is a field name of the rule as well
        references = [v.field for v in detection_item.value if IS_FIELD_REFERENCE[type(v)]]
        for name in [detection_item.field, *references]:
            if name is not None:
                self._check_field(name, detection_item)
        return None

    def _check_field(self, name: str, detection_item: SigmaDetectionItem) -> None:
        where = f"data source '{self.data_source}' (log source {self.logsource})"
        if name in self.unavailable:
            raise self.error(f"field '{name}' cannot be queried exactly in {where}: {self.unavailable[name]}",
                             detection_item)
        if name in self.known_fields:
            return None
        if self._mode() == "passthrough":
            if self._rule is not None:
                self._warn_passthrough(self._rule, name, where)
            return None
        raise self.error(f"field '{name}' has no ECS mapping for {where}", detection_item)


@dataclass
class SelectDataSourceTransformation(PreprocessingTransformation):
    """Record that the rule's log source selected this data source (state: id, and the list of all)."""

    data_source: str = ""

    def apply(self, rule: SigmaRule | SigmaCorrelationRule) -> None:
        super().apply(rule)
        if self._pipeline is not None:
            self._pipeline.state[DATA_SOURCE_STATE] = self.data_source
            selected = self._pipeline.state.setdefault(DATA_SOURCES_STATE, [])
            if self.data_source not in selected:
                selected.append(self.data_source)


@dataclass
class RequireDataSourceTransformation(PreprocessingTransformation):
    """Fail a rule whose log source no mapping file covers (or several do), naming the log source.

    `unsupported` lists log sources that no Elastic integration collects, with the reason given there.
    """

    unsupported: list[dict[str, str | None]] = field(default_factory=list)

    def apply(self, rule: SigmaRule | SigmaCorrelationRule) -> None:
        super().apply(rule)
        if self._pipeline is None:
            return
        if isinstance(rule, SigmaCorrelationRule):
            # A correlation's fields are mapped by its referenced rules' data source: with none (or several,
            # each mapping the fields its own way) they would reach the query under Sigma or foreign names.
            fields = correlation_field_names(rule)
            if fields and len(self._pipeline.state.get(DATA_SOURCES_STATE) or []) != 1:
                raise SigmaTransformationError(
                    f"{rule_label(rule)}: fields {', '.join(fields)} cannot be mapped: the referenced rules do "
                    "not share one log source with an ECS data source mapping", source=rule.source)
            return
        if not isinstance(rule, SigmaRule):
            return
        ls = rule.logsource
        described = ", ".join(
            f"{k}: {v}" for k, v in (("product", ls.product), ("category", ls.category),
                                    ("service", ls.service)) if v
        ) or "(empty)"
        matched = self._pipeline.state.get(DATA_SOURCES_STATE) or []
        if len(matched) > 1:
            raise SigmaTransformationError(
                f"{rule_label(rule)}: log source {{{described}}} matches several data sources "
                f"({', '.join(matched)}): make one of them more specific", source=rule.source)
        if matched:
            return
        for entry in self.unsupported:
            if all(entry.get(k) is None or entry.get(k) == getattr(ls, k) for k in ("product", "category", "service")):
                raise SigmaTransformationError(
                    f"{rule_label(rule)}: log source {{{described}}} has no Elastic integration counterpart: "
                    f"{entry['reason']}", source=rule.source)
        raise SigmaTransformationError(f"{rule_label(rule)}: log source {{{described}}} has no ECS data source mapping",
                                       source=rule.source)
