"""What a converted rule needs from the data: its data source and the fields its query reads.

Taken from the rule as the pipeline left it and the pipeline state after it ran, so every consumer
(coverage report, detection outputs) tells the same story as the query itself. The converter stores the
plain-data records in `RuleResult.data_source` / `.required_fields`; the dataclasses here read them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sigma.conversion.state import ConversionState
from sigma.rule import SigmaRule

from sigma_es_backend.backends.common import DATA_SOURCE_CONTEXT_STATE


@dataclass(frozen=True)
class Integration:
    """An Elastic integration package (and data stream) that ships a data source's events: declared in
    the mapping files, carried in the conversion state, emitted as Kibana `related_integrations`."""

    package: str
    version: str
    integration: str | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Integration:
        return cls(record["package"], record["version"], record.get("integration"))


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
                   integrations=tuple(Integration.from_record(i) for i in record.get("integrations", ())),
                   setup=record.get("setup"))


@dataclass(frozen=True)
class RequiredField:
    name: str  # ECS (or integration) field name the query reads, e.g. "process.command_line"
    type: str  # as the mapping files declare it for the backends, else ECS's type, else keyword
    ecs: bool  # an ECS field (not an integration's own, like winlog.event_data.*)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> RequiredField:
        return cls(record["name"], record["type"], bool(record.get("ecs")))


def data_source_record(state: dict[str, Any]) -> dict[str, Any] | None:
    """The data source context the pipeline set ({id, title, integrations, setup}); None if none matched."""
    context = state.get(DATA_SOURCE_CONTEXT_STATE)
    return dict(context) if context else None


def required_field_records(rule: SigmaRule, state: dict[str, Any],
                           conditions: list[Any] | None = None) -> list[dict[str, Any]]:
    """[{name, type, ecs}] for every field the converted rule's query reads: the detection outputs' own
    `required_fields` (one definition of "fields a query reads" and of their types). `conditions`: the
    condition trees the backend converted, if known (saves parsing them again)."""
    from sigma_es_backend.outputs.context import required_fields

    return [{"name": f.name, "type": f.type, "ecs": f.ecs}
            for f in required_fields(rule, ConversionState(processing_state=state), conditions)]
