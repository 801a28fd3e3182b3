"""The normalizer's data: `events/windows/*.yml`, one file per provider family, loaded into dataclasses.

A file says which providers it covers, the integration data stream (`event.dataset`), whether mapped
EventData fields stay in `winlog.event_data` (`keep_event_data`: the Security pipeline copies, the
Sysmon pipeline renames), the per-event-id categorisation, and an ordered list of field rules:

    {from: EventDataName | field: ecs.field | set: constant,
     to: ecs.field, as: transform, map: {raw: value}, map_or_keep: {…}, keep: bool,
     codes: [event ids] | except_codes: [event ids]}
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from sigma_es_backend.events.transforms import TRANSFORMS

RULES_DIR = Path(__file__).with_name("windows")


class NormalizerConfigError(ValueError):
    """A malformed normalizer YAML file; the message names the file and the entry."""


@dataclass(frozen=True)
class FieldRule:
    to: str | None = None
    from_: str | None = None  # EventData name
    field: str | None = None  # a document field set by an earlier rule
    set: Any = None  # a constant
    as_: str = "string"
    map: dict[str, Any] | None = None  # raw value → stored value; values not listed store nothing
    map_or_keep: dict[str, Any] | None = None  # like map, but values not listed are stored unchanged
    keep: bool | None = None  # None: the provider's keep_event_data
    codes: frozenset[str] | None = None
    except_codes: frozenset[str] = frozenset()

    def applies_to(self, code: str) -> bool:
        return (self.codes is None or code in self.codes) and code not in self.except_codes


@dataclass(frozen=True)
class EventKind:
    category: tuple[str, ...] = ()
    type: tuple[str, ...] = ()
    action: str | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class ProviderRules:
    source: str
    providers: tuple[str, ...]
    dataset: str
    keep_event_data: bool
    fields: tuple[FieldRule, ...]
    events: dict[str, EventKind] = field(default_factory=dict)
    default_event: EventKind | None = None
    timestamp: str | None = None  # EventData field holding the event time (Sysmon UtcTime)
    remove: tuple[str, ...] = ()
    rename: dict[str, str] = field(default_factory=dict)


_RULE_KEYS = {"from": "from_", "as": "as_"}
_RULE_FIELDS = {f.name for f in fields(FieldRule)}
_PROVIDER_KEYS = {"providers", "dataset", "keep_event_data", "events", "default_event", "fields", "timestamp",
                  "remove", "rename"}


def _codes(value: Any) -> frozenset[str]:
    return frozenset(str(v) for v in value)


def _field_rule(raw: dict[str, Any], where: str) -> FieldRule:
    params = {_RULE_KEYS.get(k, k): v for k, v in raw.items()}
    unknown = set(params) - _RULE_FIELDS
    if unknown:
        raise NormalizerConfigError(f"{where}: unknown keys {sorted(unknown)}")
    sources = [k for k in ("from_", "field", "set") if k in params]
    if len(sources) != 1:
        raise NormalizerConfigError(f"{where}: exactly one of from/field/set is required")
    if params.get("as_", "string") not in TRANSFORMS:
        raise NormalizerConfigError(f"{where}: unknown transform '{params['as_']}' (known: {', '.join(TRANSFORMS)})")
    if "codes" in params:
        params["codes"] = _codes(params["codes"])
    if "except_codes" in params:
        params["except_codes"] = _codes(params["except_codes"])
    if params.get("map") is not None:
        params["map"] = {str(k): v for k, v in params["map"].items()}
    if params.get("map_or_keep") is not None:
        params["map_or_keep"] = {str(k): v for k, v in params["map_or_keep"].items()}
    rule = FieldRule(**params)
    if rule.to is None and rule.as_ == "string":
        raise NormalizerConfigError(f"{where}: `to` is required")
    return rule


def _event_kind(raw: dict[str, Any]) -> EventKind:
    return EventKind(tuple(raw.get("category", ())), tuple(raw.get("type", ())), raw.get("action"),
                     raw.get("outcome"))


def load_provider_rules(path: Path) -> ProviderRules:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    unknown = set(data) - _PROVIDER_KEYS
    if unknown:
        raise NormalizerConfigError(f"{path}: unknown keys {sorted(unknown)}")
    rules = tuple(_field_rule(raw, f"{path}: fields[{i}]") for i, raw in enumerate(data.get("fields", [])))
    return ProviderRules(
        source=str(path), providers=tuple(data["providers"]), dataset=data["dataset"],
        keep_event_data=bool(data.get("keep_event_data", True)), fields=rules,
        events={str(code): _event_kind(kind) for code, kind in (data.get("events") or {}).items()},
        default_event=_event_kind(data["default_event"]) if data.get("default_event") else None,
        timestamp=data.get("timestamp"), remove=tuple(data.get("remove", ())), rename=dict(data.get("rename", {})))


@cache
def provider_table(directory: Path = RULES_DIR) -> dict[str, ProviderRules]:
    """Provider name → its rules, over every YAML file in `directory`."""
    table: dict[str, ProviderRules] = {}
    for path in sorted(directory.glob("*.yml")):
        rules = load_provider_rules(path)
        for provider in rules.providers:
            if provider in table:
                raise NormalizerConfigError(f"{path}: provider {provider} already defined in {table[provider].source}")
            table[provider] = rules
    return table
