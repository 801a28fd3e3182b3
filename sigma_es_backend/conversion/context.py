"""What a converted rule needs from the data: its data source and the fields its query reads.

Taken from the rule as the pipeline left it and the pipeline state after it ran, so every consumer
(coverage report, detection outputs) tells the same story as the query itself. The converter stores the
plain-data records in `RuleResult.data_source` / `.required_fields`; the dataclasses here read them back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sigma.conditions import ConditionFieldEqualsValueExpression
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from sigma_es_backend.backends.common import DATA_SOURCE_CONTEXT_STATE, FIELD_CAPABILITIES_STATE

DEFAULT_FIELD_TYPE = "keyword"  # what the backends assume for a field the mapping files do not list


@dataclass(frozen=True)
class Integration:
    package: str
    version: str
    integration: str | None = None


@dataclass(frozen=True)
class DataSourceContext:
    """The mapping files' data source a rule was converted for (mappings/*.yml)."""

    id: str
    title: str
    integrations: tuple[Integration, ...] = ()
    setup: str | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> DataSourceContext | None:
        if not record:
            return None
        return cls(id=record["id"], title=record.get("title") or record["id"],
                   integrations=tuple(Integration(i["package"], i["version"], i.get("integration"))
                                      for i in record.get("integrations", ())),
                   setup=record.get("setup"))


@dataclass(frozen=True)
class RequiredField:
    name: str  # ECS (or integration) field name the query reads, e.g. "process.command_line"
    type: str  # field type as the mapping files declare it (mappings/fields.yml), keyword otherwise

    @classmethod
    def from_record(cls, record: dict[str, str]) -> RequiredField:
        return cls(record["name"], record.get("type", DEFAULT_FIELD_TYPE))


def data_source_record(state: dict[str, Any]) -> dict[str, Any] | None:
    """The data source context the pipeline set ({id, title, integrations, setup}); None if none matched."""
    context = state.get(DATA_SOURCE_CONTEXT_STATE)
    return dict(context) if context else None


def _condition_fields(node: Any) -> Iterator[str]:
    if isinstance(node, ConditionFieldEqualsValueExpression):
        yield node.field
    for arg in getattr(node, "args", None) or ():
        yield from _condition_fields(arg)


def query_fields(rule: SigmaRule) -> tuple[str, ...]:
    """Field names the rule's conditions read, after the pipeline mapped them (sorted, unique).

    Taken from the parsed conditions, so detections the condition does not use are not counted; the data
    source's event filter (event.category, event.type …) is part of the query and is counted. Unbound
    keyword values name no field."""
    fields: set[str] = set()
    for condition in rule.detection.parsed_condition:
        try:
            fields.update(f for f in _condition_fields(condition.parsed) if f)
        except SigmaError:  # a broken condition: the conversion error already says so
            continue
    return tuple(sorted(fields))


def required_field_records(rule: SigmaRule, state: dict[str, Any]) -> list[dict[str, str]]:
    """[{name, type}] for every field the converted rule's query reads, typed from the field capabilities."""
    capabilities = state.get(FIELD_CAPABILITIES_STATE) or {}
    return [{"name": name, "type": _type(capabilities.get(name))} for name in query_fields(rule)]


def _type(capability: Any) -> str:
    if capability is None:
        return DEFAULT_FIELD_TYPE
    if isinstance(capability, dict):
        return capability.get("type", DEFAULT_FIELD_TYPE)
    return getattr(capability, "type", DEFAULT_FIELD_TYPE)
