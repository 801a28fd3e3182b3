"""Raw Windows event (the EVTX record's JSON form: Event.System / Event.EventData) → the ECS document
the Elastic Agent windows/system integrations (Winlogbeat 8 pipelines) write.

Every event gets `@timestamp`, `event.code` (a string), `event.provider`, `host.name` and `winlog.*`;
the provider's rules (events/windows/*.yml) add ECS fields. Providers without rules keep their
EventData whole in `winlog.event_data` rather than invented ECS fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sigma_es_backend.events.rules import FieldRule, ProviderRules, provider_table
from sigma_es_backend.events.transforms import TRANSFORMS

# Values the integrations' pipelines drop from event_data before anything else.
EMPTY_VALUES = frozenset({"", "-", "{00000000-0000-0000-0000-000000000000}"})
LOG_LEVELS = {0: "information", 1: "critical", 2: "error", 3: "warning", 4: "information", 5: "verbose"}


class EventShapeError(ValueError):
    """A record that is not a Windows event (no Event.System with a provider and an event id)."""


def _attributes(node: Any) -> dict[str, Any]:
    return node.get("#attributes", {}) if isinstance(node, dict) else {}


def _text(value: Any) -> str | None:
    """EventData values as Winlogbeat writes them: strings ("true"/"false" for booleans)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _text(value.get("#text"))
    if isinstance(value, list):
        parts = [t for t in (_text(v) for v in value) if t is not None]
        return "\n".join(parts)
    return str(value)


def _event_data(raw: Any) -> dict[str, str]:
    """Named <Data Name="…"> values keep their names (spaces become underscores, as Winlogbeat writes
    them); unnamed ones are param1, param2, … (Winlogbeat's names)."""
    if not isinstance(raw, dict):
        return {}
    data: dict[str, str] = {}
    unnamed = raw.get("Data") if set(raw) <= {"Data", "#attributes", "Binary"} and "Data" in raw else None
    if unnamed is not None:
        values = unnamed.get("#text") if isinstance(unnamed, dict) else unnamed
        for index, value in enumerate(values if isinstance(values, list) else [values], 1):
            if (text := _text(value)) is not None:
                data[f"param{index}"] = text
        if "Binary" in raw and (text := _text(raw["Binary"])) is not None:
            data["Binary"] = text
        return data
    for name, value in raw.items():
        if name == "#attributes":
            continue
        if (text := _text(value)) is not None:
            data[name.replace(" ", "_")] = text
    return data


def _set(doc: dict[str, Any], dotted: str, value: Any) -> None:
    node = doc
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def _get(doc: dict[str, Any], dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _sysmon_time(value: str) -> str:
    """Sysmon UtcTime "2024-01-02 03:04:05.678" → ISO 8601 UTC."""
    return value.replace(" ", "T", 1) + ("" if value.endswith("Z") else "Z")


def base_document(event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The fields every Windows event has, and its EventData (empty values dropped)."""
    system = event.get("System") if isinstance(event, dict) else None
    if not isinstance(system, dict):
        raise EventShapeError("no Event.System")
    provider = _attributes(system.get("Provider"))
    event_id = system.get("EventID")
    if isinstance(event_id, dict):
        event_id = event_id.get("#text")
    if not provider.get("Name") or event_id is None:
        raise EventShapeError("Event.System has no Provider Name or EventID")
    code = str(event_id)
    winlog: dict[str, Any] = {"channel": system.get("Channel"), "event_id": code,
                              "provider_name": provider["Name"], "computer_name": system.get("Computer")}
    if provider.get("Guid"):
        guid = provider["Guid"]
        winlog["provider_guid"] = guid if guid.startswith("{") else "{" + guid + "}"
    if system.get("EventRecordID") is not None:
        winlog["record_id"] = str(system["EventRecordID"])
    execution = _attributes(system.get("Execution"))
    if execution.get("ProcessID") is not None:
        winlog["process"] = {"pid": int(execution["ProcessID"])}
        if execution.get("ThreadID") is not None:
            winlog["process"]["thread"] = {"id": int(execution["ThreadID"])}
    if (user_id := _attributes(system.get("Security")).get("UserID")):
        winlog["user"] = {"identifier": user_id}
    if (activity := _attributes(system.get("Correlation")).get("ActivityID")):
        winlog["activity_id"] = activity if activity.startswith("{") else "{" + activity + "}"
    if system.get("Version") is not None:
        winlog["version"] = int(system["Version"])
    doc: dict[str, Any] = {
        "@timestamp": _attributes(system.get("TimeCreated")).get("SystemTime"),
        "event": {"code": code, "provider": provider["Name"], "kind": "event"},
        "host": {"name": system.get("Computer")},
        "winlog": {k: v for k, v in winlog.items() if v is not None},
    }
    if isinstance(system.get("Level"), int) and system["Level"] in LOG_LEVELS:
        doc["log"] = {"level": LOG_LEVELS[system["Level"]]}
    event_data = _event_data(event.get("EventData"))
    if isinstance(event.get("UserData"), dict):
        doc["winlog"]["user_data"] = {k: v for k, v in _flat_user_data(event["UserData"]).items()}
    return doc, {k: v for k, v in event_data.items() if v not in EMPTY_VALUES}


def _flat_user_data(user_data: dict[str, Any]) -> dict[str, str]:
    """UserData holds one element whose children are the values (Winlogbeat flattens it so)."""
    inner = next((v for k, v in user_data.items() if k != "#attributes"), None)
    if not isinstance(inner, dict):
        return {}
    return {k: t for k, v in inner.items() if k != "#attributes" and (t := _text(v)) is not None}


def _apply(rule: FieldRule, doc: dict[str, Any], event_data: dict[str, str]) -> bool:
    """Apply one field rule; True when it consumed an EventData value."""
    if rule.from_ is not None:
        raw = event_data.get(rule.from_)
    elif rule.field is not None:
        raw = _get(doc, rule.field)
        if not isinstance(raw, str):
            return False
    else:
        raw = rule.set
    if raw is None:
        return False
    if rule.map is not None:
        value = rule.map.get(raw)
    elif rule.map_or_keep is not None:
        value = rule.map_or_keep.get(raw, raw)
    elif rule.set is not None:
        value = raw
    else:
        value = TRANSFORMS[rule.as_](raw)
    if value is None or value == {}:
        return rule.from_ is not None
    if isinstance(value, dict):
        for sub, sub_value in value.items():
            target = f"{rule.to}.{sub}" if rule.to else sub
            if rule.field is None or _get(doc, target) is None:
                _set(doc, target, sub_value)
    elif rule.to is not None and (rule.field is None or _get(doc, rule.to) is None):
        # Rules reading a document field derive values (process.name); they never overwrite.
        _set(doc, rule.to, value)
    return rule.from_ is not None


def _apply_provider(rules: ProviderRules, doc: dict[str, Any], event_data: dict[str, str]) -> dict[str, str]:
    code = doc["event"]["code"]
    kind = rules.events.get(code, rules.default_event)
    if kind is not None:
        for key, value in (("category", list(kind.category)), ("type", list(kind.type)),
                           ("action", kind.action), ("outcome", kind.outcome)):
            if value:
                doc["event"][key] = value
    doc["event"]["dataset"] = rules.dataset
    doc["event"]["module"] = rules.dataset.split(".")[0]
    if rules.timestamp and event_data.get(rules.timestamp):
        doc["@timestamp"] = _sysmon_time(event_data[rules.timestamp])
    consumed: set[str] = set()
    for rule in rules.fields:
        if rule.applies_to(code) and _apply(rule, doc, event_data):
            keep = rules.keep_event_data if rule.keep is None else rule.keep
            if not keep:
                consumed.add(rule.from_)  # type: ignore[arg-type]
    remaining = {k: v for k, v in event_data.items() if k not in consumed and k not in rules.remove}
    return {rules.rename.get(k, k): v for k, v in remaining.items()}


def normalize_event(record: dict[str, Any], rules_dir: Path | None = None) -> dict[str, Any]:
    """One raw event ({"Event": {...}} or the Event object itself) → its ECS document."""
    event = record.get("Event", record) if isinstance(record, dict) else None
    if not isinstance(event, dict):
        raise EventShapeError("not a JSON object")
    doc, event_data = base_document(event)
    table = provider_table() if rules_dir is None else provider_table(rules_dir)
    rules = table.get(doc["winlog"]["provider_name"])
    if rules is not None:
        event_data = _apply_provider(rules, doc, event_data)
    if event_data:
        doc["winlog"]["event_data"] = event_data
    return doc
