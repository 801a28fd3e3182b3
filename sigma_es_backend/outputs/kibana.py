"""Kibana detection rules (detection engine API 2023-10-31) from a DetectionContext and a query.

One typed model, `KibanaRule`; `kibana_rule` (JSON) and `kibana_ndjson` (the `_import` file) both
serialize it. Which rule type and language a backend produces is its `KibanaQuery` (a class attribute),
so a new query language only declares that and adds `KibanaRuleFormats` to its bases.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sigma_es_backend import attack
from sigma_es_backend.outputs.context import MANAGED_BY, DetectionContext, content_hash
from sigma_es_backend.outputs.levels import KibanaSeverity, level_mapping

KibanaRuleType = Literal["query", "eql", "esql", "threshold"]
KibanaLanguage = Literal["lucene", "kuery", "eql", "esql"]
HASH_KEY = "sigma_es_hash"


@dataclass(frozen=True)
class KibanaQuery:
    """How a backend's query runs in Kibana: rule type, language, and whether the rule names indices
    (ES|QL rules do not: FROM is part of the query)."""

    type: KibanaRuleType
    language: KibanaLanguage
    uses_index: bool = True


LUCENE = KibanaQuery("query", "lucene")
KUERY = KibanaQuery("query", "kuery")
EQL = KibanaQuery("eql", "eql")
ESQL = KibanaQuery("esql", "esql", uses_index=False)
# Most group-by fields a threshold rule takes (detection engine API schema: threshold.field maxItems).
THRESHOLD_MAX_FIELDS = 5


@dataclass(frozen=True)
class Threshold:
    """A threshold rule's condition: at least `value` matching events per combination of `fields`
    inside one execution's time range (Kibana compares `doc_count >= value`, nothing else)."""

    fields: tuple[str, ...]
    value: int

    def to_dict(self) -> dict[str, Any]:
        return {"field": list(self.fields), "value": self.value}


@dataclass(frozen=True)
class KibanaRule:
    rule_id: str
    name: str
    description: str
    type: KibanaRuleType
    language: KibanaLanguage
    query: str
    index: tuple[str, ...] | None
    severity: KibanaSeverity
    risk_score: int
    threat: tuple[dict[str, Any], ...]
    references: tuple[str, ...]
    false_positives: tuple[str, ...]
    author: tuple[str, ...]
    license: str
    tags: tuple[str, ...]
    interval: str
    from_: str
    max_signals: int
    version: int
    enabled: bool
    related_integrations: tuple[dict[str, str], ...]
    required_fields: tuple[dict[str, Any], ...]
    setup: str
    note: str
    meta: dict[str, Any] = field(default_factory=dict)
    threshold: Threshold | None = None
    filters: tuple[dict[str, Any], ...] = ()  # Kibana filters beside the query (every one must hold)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "rule_id": self.rule_id, "name": self.name, "description": self.description,
            "type": self.type, "language": self.language, "query": self.query,
        }
        if self.filters:
            body["filters"] = [dict(f) for f in self.filters]
        if self.index is not None:
            body["index"] = list(self.index)
        if self.threshold is not None:
            body["threshold"] = self.threshold.to_dict()
        body.update({
            "severity": self.severity, "risk_score": self.risk_score,
            "threat": [dict(t) for t in self.threat],
            "references": list(self.references), "false_positives": list(self.false_positives),
            "author": list(self.author), "license": self.license, "tags": list(self.tags),
            "interval": self.interval, "from": self.from_, "max_signals": self.max_signals,
            "version": self.version, "enabled": self.enabled,
            "related_integrations": [dict(r) for r in self.related_integrations],
            "required_fields": [dict(r) for r in self.required_fields],
            "setup": self.setup, "note": self.note, "meta": dict(self.meta),
        })
        return body


def kibana_threat(tags: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    """`threat` entries: one per tactic, each technique under its own tactic(s), sub-techniques nested."""

    def ref(obj: Any) -> dict[str, str]:
        return {"id": obj.id, "name": obj.name, "reference": obj.reference}

    parsed = attack.parse_tags(tags)
    # A revoked id is filed as its replacement; one retired without replacement has no tactic to go under.
    parsed = replace(parsed, techniques=tuple(dict.fromkeys(attack.current(t) for t in parsed.techniques)))
    entries = []
    for group in parsed.by_tactic(attack.technique):
        techniques = []
        for tg in group.techniques:
            technique = ref(tg.technique)
            if tg.subtechniques:
                technique["subtechnique"] = [ref(s) for s in tg.subtechniques]
            techniques.append(technique)
        entries.append({"framework": "MITRE ATT&CK", "tactic": ref(group.tactic), "technique": techniques})
    return tuple(entries)


def build_kibana_rule(ctx: DetectionContext, kind: KibanaQuery, query: str,
                      threshold: Threshold | None = None, filters: tuple[dict[str, Any], ...] = ()) -> KibanaRule:
    level = level_mapping(ctx.level)
    options = ctx.options
    rule = KibanaRule(
        rule_id=ctx.rule_id, name=ctx.title, description=ctx.description,
        type="threshold" if threshold is not None else kind.type, language=kind.language, query=query,
        threshold=threshold, filters=filters,
        index=ctx.index if kind.uses_index else None,
        severity=level.kibana_severity, risk_score=level.risk_score,
        threat=kibana_threat(ctx.tags),
        references=ctx.references, false_positives=ctx.false_positives, author=ctx.authors,
        license=ctx.license, tags=(*ctx.tags, MANAGED_BY),
        interval=options.schedule.interval, from_=options.schedule.kibana_from,
        max_signals=options.max_signals, version=options.version, enabled=options.enabled,
        related_integrations=tuple(
            {"package": i.package, **({"integration": i.integration} if i.integration else {}), "version": i.version}
            for i in ctx.integrations),
        required_fields=tuple({"name": f.name, "type": f.type, "ecs": f.ecs} for f in ctx.required_fields),
        setup=ctx.setup_guide, note=ctx.note,
        meta={"managed_by": MANAGED_BY},
    )
    # The hash covers everything we send except itself: deploy compares it with the deployed rule's.
    return KibanaRule(**{**rule.__dict__, "meta": {**rule.meta, HASH_KEY: content_hash(rule.to_dict())}})
