"""Coverage of a rule set: which rules convert for which data source, the fields they read, and the
ATT&CK techniques they cover (model here; `layer` builds the Navigator layer, `report` the HTML/Markdown).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sigma_es_backend import attack
from sigma_es_backend.attack import AttackTags, Tactic, Technique
from sigma_es_backend.conversion import RuleResult
from sigma_es_backend.conversion.context import DataSourceContext, RequiredField

SIGMA_LEVELS = ("informational", "low", "medium", "high", "critical")
UNMAPPED = "(no data source)"


@dataclass(frozen=True)
class RuleEntry:
    path: str
    id: str | None
    title: str | None
    level: str | None  # Sigma level, None when the rule has none (or could not be read)
    converted: bool
    error: str | None
    data_source: DataSourceContext | None
    logsource: str  # "windows / process_creation", for rules without a data source
    attack: AttackTags
    fields: tuple[RequiredField, ...]

    def cells(self) -> list[tuple[Technique, Tactic]]:
        """(technique, tactic) pairs this rule covers; a revoked technique counts as its replacement, a
        retired one (deprecated, or no longer in the current release) has no tactic and covers nothing."""
        pairs = []
        for technique in self.attack.techniques:
            current = attack.current(technique)
            for tactic in self.attack.tactics_of(current):
                pairs.append((current, tactic))
        return pairs

    def retired(self) -> list[str]:
        """The rule's technique tags that lead to no technique of the current matrix."""
        return [f"attack.{t.id.lower()}" for t in self.attack.techniques if not attack.current(t).tactics]


@dataclass
class Cell:
    """The rules covering one technique under one tactic."""

    technique: Technique
    tactic: Tactic
    rules: list[RuleEntry] = field(default_factory=list)

    def levels(self) -> Counter[str]:
        return Counter(rule.level or "none" for rule in self.rules)

    def top_level(self) -> str | None:
        ranked = [SIGMA_LEVELS.index(r.level) for r in self.rules if r.level in SIGMA_LEVELS]
        return SIGMA_LEVELS[max(ranked)] if ranked else None


def matrix(rules: Iterable[RuleEntry]) -> dict[tuple[str, str], Cell]:
    """(technique id, tactic shortname) → Cell, over the converted rules only."""
    cells: dict[tuple[str, str], Cell] = {}
    for rule in rules:
        if not rule.converted:
            continue
        for technique, tactic in rule.cells():
            cell = cells.setdefault((technique.id, tactic.shortname), Cell(technique, tactic))
            if rule not in cell.rules:
                cell.rules.append(rule)
    return cells


@dataclass
class DataSourceGroup:
    key: str  # data source id, or UNMAPPED
    title: str
    context: DataSourceContext | None
    rules: list[RuleEntry] = field(default_factory=list)

    @property
    def converted(self) -> list[RuleEntry]:
        return [r for r in self.rules if r.converted]

    @property
    def failed(self) -> list[RuleEntry]:
        return [r for r in self.rules if not r.converted]

    def fields(self) -> list[tuple[RequiredField, int]]:
        """Fields the converted rules read, with how many rules read each (most used first)."""
        counts = Counter(f for r in self.converted for f in r.fields)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0].name))

    def matrix(self) -> dict[tuple[str, str], Cell]:
        return matrix(self.rules)


@dataclass
class Coverage:
    target: str
    pipelines: tuple[str, ...]
    paths: tuple[str, ...]
    rules: list[RuleEntry]

    @property
    def converted(self) -> list[RuleEntry]:
        return [r for r in self.rules if r.converted]

    @property
    def failed(self) -> list[RuleEntry]:
        return [r for r in self.rules if not r.converted]

    def matrix(self) -> dict[tuple[str, str], Cell]:
        return matrix(self.rules)

    def data_sources(self) -> list[DataSourceGroup]:
        """One group per data source (by id), rules without one last."""
        groups: dict[str, DataSourceGroup] = {}
        for rule in self.rules:
            ds = rule.data_source
            key = ds.id if ds else UNMAPPED
            group = groups.setdefault(key, DataSourceGroup(key, ds.title if ds else UNMAPPED, ds))
            group.rules.append(rule)
        return sorted(groups.values(), key=lambda g: (g.key == UNMAPPED, g.title.lower()))

    def unknown_tags(self) -> Counter[str]:
        return Counter(tag for r in self.rules for tag in r.attack.unknown)

    def retired_tags(self) -> Counter[str]:
        """Technique tags of retired ATT&CK ids (no replacement in the data): reported, in no matrix cell."""
        return Counter(tag for r in self.rules for tag in r.retired())

    def untagged(self) -> list[RuleEntry]:
        """Converted rules that name no ATT&CK technique (they cover nothing in the matrix)."""
        return [r for r in self.converted if not r.attack.techniques]


def rule_entry(result: RuleResult) -> RuleEntry:
    logsource = " / ".join(v for v in (result.product, result.category, result.service) if v)
    if not logsource:
        logsource = "(empty log source)" if result.title else "(unreadable)"
    return RuleEntry(path=result.path, id=result.rule_id, title=result.title, level=result.level,
                     converted=result.ok, error=result.error,
                     data_source=DataSourceContext.from_record(result.data_source), logsource=logsource,
                     attack=attack.parse_tags(result.tags),
                     fields=tuple(RequiredField.from_record(f) for f in result.required_fields))


def collect(results: Iterable[RuleResult], target: str, pipelines: Iterable[str], paths: Iterable[str]) -> Coverage:
    return Coverage(target, tuple(pipelines), tuple(paths), [rule_entry(r) for r in results])
