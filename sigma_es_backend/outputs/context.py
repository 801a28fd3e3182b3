"""What every detection output says about a converted rule, independent of the target API.

Built from the processed rule (its detection items carry the ECS field names after the pipeline ran)
and the pipeline state (index patterns, data source, field capabilities). Kibana rules and OpenSearch
monitors serialize the same context, so they cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from sigma.conditions import ConditionFieldEqualsValueExpression
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaConfigurationError, SigmaError
from sigma.rule import SigmaRule

from sigma_es_backend.backends.common import (
    DATA_SOURCE_CONTEXT_STATE,
    FIELD_CAPABILITIES_STATE,
    field_capabilities,
    index_patterns,
)
from sigma_es_backend.backends.correlation import Correlation
from sigma_es_backend.backends.fieldref import field_comparison
from sigma_es_backend.backends.typetests import IS_FIELD_REFERENCE
from sigma_es_backend.conversion.context import Integration, RequiredField
from sigma_es_backend.events.templates import bundled_ecs_mappings
from sigma_es_backend.outputs.levels import DEFAULT_LEVEL, level_name

MANAGED_BY = "sigma-es"  # marker on every object the deploy command creates (tag / ui_metadata / meta)
DEFAULT_LICENSE = "DRL-1.1"  # SigmaHQ's Detection Rule License, for rules that name none
_DURATION = re.compile(r"^(\d+)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class DetectionOutputError(SigmaError):
    """The rule cannot become a detection object (e.g. no id); names the rule."""


def parse_duration(text: str, what: str) -> int:
    """"5m" → 300 (seconds); the forms Kibana and Alerting accept."""
    match = _DURATION.match(str(text).strip())
    if not match or int(match.group(1)) == 0:
        raise SigmaConfigurationError(f"{what} '{text}' is not a duration like 30s, 5m, 1h, 1d")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def format_duration(seconds: int) -> str:
    for unit in ("d", "h", "m"):
        if seconds % _SECONDS[unit] == 0:
            return f"{seconds // _SECONDS[unit]}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class Schedule:
    """Run every `interval`; each run looks back `interval + lookback`, so runs overlap by `lookback`
    and an event indexed late (up to `lookback`) is still seen. Kibana de-duplicates alerts of overlapping
    runs itself."""

    interval_seconds: int = 300
    lookback_seconds: int = 60

    @property
    def interval(self) -> str:
        return format_duration(self.interval_seconds)

    @property
    def kibana_from(self) -> str:
        return f"now-{format_duration(self.interval_seconds + self.lookback_seconds)}"

    def for_window(self, seconds: int) -> Schedule:
        """An aggregation over exactly the last `seconds` (a correlation's timespan) at every run: runs
        at most `seconds` apart, so consecutive windows leave no gap (and no late-event lookback: a
        wider range would count events outside the timespan)."""
        interval = min(self.interval_seconds, seconds)
        return Schedule(interval, seconds - interval)

    def for_sequences(self, seconds: int) -> Schedule:
        """Sequences spanning at most `seconds`: each run looks back its interval, the lookback and the
        span, so every sequence whose last event falls in the run's interval lies wholly inside."""
        return Schedule(self.interval_seconds, self.lookback_seconds + seconds)


@dataclass(frozen=True)
class DetectionOptions:
    """`-O key=value` backend options of the detection formats."""

    schedule: Schedule = Schedule()
    max_signals: int = 100
    version: int = 1
    enabled: bool = True

    @classmethod
    def from_backend_options(cls, options: dict[str, Any]) -> DetectionOptions:
        interval = parse_duration(options.get("interval", "5m"), "interval")
        lookback = parse_duration(options.get("lookback", "1m"), "lookback")
        max_signals, version = int(options.get("max_signals", 100)), int(options.get("version", 1))
        if max_signals < 1 or version < 1:
            raise SigmaConfigurationError("max_signals and version must be at least 1")
        enabled = str(options.get("enabled", "true")).lower() not in ("false", "0", "no")
        return cls(Schedule(interval, lookback), max_signals, version, enabled)


@dataclass(frozen=True)
class DetectionContext:
    rule_id: str
    title: str
    description: str
    level: str
    status: str | None
    references: tuple[str, ...]
    false_positives: tuple[str, ...]
    authors: tuple[str, ...]
    license: str
    tags: tuple[str, ...]
    index: tuple[str, ...]
    data_source_id: str | None
    data_source_title: str | None
    integrations: tuple[Integration, ...]
    setup: str | None
    required_fields: tuple[RequiredField, ...]
    options: DetectionOptions

    @property
    def note(self) -> str:
        """Investigation guide (Markdown) from the rule's description, false positives and references."""
        lines = ["## Triage and analysis", "", f"### Investigating {self.title}", "", self.description, ""]
        lines += ["### False positive analysis", ""]
        lines += [f"- {fp}" for fp in self.false_positives] or ["- None documented in the Sigma rule."]
        if self.references:
            lines += ["", "### References", ""] + [f"- {ref}" for ref in self.references]
        source = f"{self.data_source_title} (`{', '.join(self.index)}`)" if self.data_source_title else ", ".join(self.index)
        lines += ["", "### Rule", "", f"Sigma rule `{self.rule_id}`, level {self.level}"
                  + (f", status {self.status}" if self.status else "") + f"; data: {source}."]
        return "\n".join(lines) + "\n"

    @property
    def setup_guide(self) -> str:
        """What to enable so the rule has events to match (Markdown)."""
        lines = ["## Setup", ""]
        if self.setup:
            lines += [self.setup, ""]
        if self.integrations:
            lines += ["Elastic integrations that ship these events:", ""]
            lines += [f"- `{i.package}`" + (f" / `{i.integration}`" if i.integration else "") + f" ({i.version})"
                      for i in self.integrations]
            lines.append("")
        lines.append(f"Index patterns searched: `{', '.join(self.index)}`.")
        return "\n".join(lines) + "\n"


@cache
def ecs_field_types() -> dict[str, str]:
    """ECS field → type in the ECS index template (the merged ECS mappings bundled in the package)."""
    types: dict[str, str] = {}

    def walk(properties: dict[str, Any], prefix: str) -> None:
        for name, spec in properties.items():
            if "type" in spec and spec["type"] not in ("object", "nested"):
                types[prefix + name] = spec["type"]
            if "properties" in spec:
                walk(spec["properties"], f"{prefix}{name}.")

    walk(bundled_ecs_mappings().get("properties", {}), "")
    return types


def _condition_fields(root: Any) -> list[str]:
    """The fields of a condition tree's leaves (a loop, not a recursion of generators: the trees of value
    lists have thousands of leaves)."""
    fields: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, ConditionFieldEqualsValueExpression):
            if IS_FIELD_REFERENCE[type(node.value)]:  # both sides, a joined side's parts included
                fields.extend(field_comparison(node).fields())
            else:
                fields.append(node.field)
        stack.extend(getattr(node, "args", None) or ())
    return fields


def query_fields(rule: SigmaRule, conditions: list[Any] | None = None) -> tuple[str, ...]:
    """Field names the processed rule's conditions read (sorted, unique).

    From the parsed conditions, so detections the condition does not use are not counted; the data
    source's event filter (event.category, event.type …) is part of the query and is counted. Unbound
    keyword values name no field. `conditions`: the parsed trees the backend converted, when the caller
    has them (pySigma parses a condition again on each `.parsed`, 13 % of bulk conversion time)."""
    fields: set[str] = set()
    if conditions is not None:
        for tree in conditions:
            fields.update(f for f in _condition_fields(tree) if f)
        return tuple(sorted(fields))
    for condition in rule.detection.parsed_condition:
        try:
            fields.update(f for f in _condition_fields(condition.parsed) if f)
        except SigmaError:  # a broken condition: the conversion error already says so
            continue
    return tuple(sorted(fields))


def required_fields(rule: SigmaRule, state: ConversionState,
                    conditions: list[Any] | None = None) -> tuple[RequiredField, ...]:
    """name, type and ECS membership of each field the query reads.

    The type is the one the mappings declare for the backends (field capabilities), else the ECS index
    template's, else keyword: the integrations map other strings (winlog.event_data.*) as keyword."""
    ecs = ecs_field_types()
    declared = state.processing_state.get(FIELD_CAPABILITIES_STATE) or {}
    out = []
    for name in query_fields(rule, conditions):
        ftype = field_capabilities(state, name).type if name in declared else ecs.get(name, "keyword")
        out.append(RequiredField(name, ftype, name in ecs))
    return tuple(out)


def _authors(author: str | None) -> tuple[str, ...]:
    if not author:
        return ("Sigma",)
    return tuple(a.strip() for a in author.split(",") if a.strip())


def _tag_text(tag: Any) -> str:
    namespace = getattr(tag, "namespace", None)
    return f"{namespace}.{tag.name}" if namespace is not None else str(tag)


def detection_context(rule: SigmaRule | SigmaCorrelationRule, state: ConversionState, options: DetectionOptions,
                      fields: tuple[RequiredField, ...] | None = None) -> DetectionContext:
    """`fields`: the required fields when they are not the rule's own detection's (correlation rules)."""
    if not getattr(rule, "id", None):
        raise DetectionOutputError("a detection needs the Sigma rule's id (its rule_id / managed-object key)",
                                   source=rule.source)
    data_source = state.processing_state.get(DATA_SOURCE_CONTEXT_STATE) or {}
    integrations = tuple(Integration.from_record(i) for i in data_source.get("integrations", ()))
    return DetectionContext(
        rule_id=str(rule.id).lower(),
        title=rule.title,
        description=(rule.description or rule.title).strip(),
        level=level_name(rule.level) if rule.level else DEFAULT_LEVEL,
        status=rule.status.name.lower() if getattr(rule, "status", None) else None,
        references=tuple(str(r) for r in rule.references or ()),
        false_positives=tuple(str(f) for f in rule.falsepositives or ()),
        authors=_authors(rule.author),
        license=getattr(rule, "license", None) or DEFAULT_LICENSE,
        tags=tuple(_tag_text(t) for t in rule.tags or ()),
        index=index_patterns(state),
        data_source_id=data_source.get("id"),
        data_source_title=data_source.get("title"),
        integrations=integrations,
        setup=data_source.get("setup"),
        required_fields=required_fields(rule, state) if fields is None else fields,
        options=options,
    )


def correlation_context(correlation: Correlation, options: DetectionOptions) -> DetectionContext:
    """A correlation rule's context: its own metadata (id, title, level, tags …), the index patterns,
    data sources and integrations of the rules it references, and as required fields the union of
    theirs with the group-by (aliases resolved) and value fields."""
    fields: dict[str, RequiredField] = {}
    ecs = ecs_field_types()
    records: list[dict[str, Any]] = []
    for ref in correlation.rules:
        state = ref.state or ConversionState()
        if isinstance(ref.rule, SigmaRule):
            fields.update((f.name, f) for f in required_fields(ref.rule, state))
        names = [*ref.group_fields, *([correlation.field] if correlation.field else [])]
        for name in names:
            if name not in fields:
                fields[name] = RequiredField(name, field_capabilities(state, name).type, name in ecs)
        record = state.processing_state.get(DATA_SOURCE_CONTEXT_STATE)
        if record and record not in records:
            records.append(record)
    first = correlation.rules[0].state or ConversionState()
    ctx = detection_context(correlation.rule, first, options, tuple(sorted(fields.values(), key=lambda f: f.name)))
    integrations = tuple(dict.fromkeys(Integration.from_record(i) for r in records for i in r.get("integrations", ())))
    setups = [r["setup"] for r in records if r.get("setup")]
    return replace(ctx, index=correlation.indexes,
                   data_source_id=", ".join(r["id"] for r in records) or None,
                   data_source_title=", ".join(r.get("title") or r["id"] for r in records) or None,
                   integrations=integrations, setup="\n\n".join(dict.fromkeys(setups)) or None)


def content_hash(document: Any) -> str:
    """Stable hash of a JSON-able document: the deploy command's change detector."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
