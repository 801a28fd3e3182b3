"""Sigma `attack.*` tags → ATT&CK tactics and techniques, grouped the way detections carry them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sigma_es_backend.attack.model import AttackData, Tactic, Technique

_TECHNIQUE_TAG = re.compile(r"^t\d{4}(\.\d{3})?$")
# ATT&CK object ids that are valid Sigma attack.* tags but neither a tactic nor a technique:
# groups, software, campaigns, mitigations, data sources.
_OTHER_OBJECT_TAG = re.compile(r"^(g|s|c|m|ds)\d{4}$")


@dataclass(frozen=True)
class TechniqueGroup:
    """A technique with the sub-techniques the rule names under it (Kibana's `technique[].subtechnique`)."""

    technique: Technique
    subtechniques: tuple[Technique, ...] = ()


@dataclass(frozen=True)
class TacticGroup:
    """One tactic with the techniques the rule places under it (one Kibana `threat` entry)."""

    tactic: Tactic
    techniques: tuple[TechniqueGroup, ...] = ()


@dataclass(frozen=True)
class AttackTags:
    tactics: tuple[Tactic, ...]  # tactics the rule names, in tag order
    techniques: tuple[Technique, ...]  # techniques and sub-techniques the rule names, in tag order
    other: tuple[str, ...]  # ATT&CK group/software/... tags ("attack.g0016"): valid, not mapped
    unknown: tuple[str, ...]  # attack.* tags not in the ATT&CK data: reported, never guessed

    def tactics_of(self, technique: Technique) -> tuple[Tactic, ...]:
        """The tactics a technique is counted under for this rule.

        The technique's own tactics that the rule also names; if the rule names none of them, all of the
        technique's own tactics (a technique never goes under a tactic it does not belong to)."""
        named = tuple(t for t in technique.tactics if t in self.tactics)
        return named or technique.tactics

    def by_tactic(self, lookup: Callable[[str], Technique | None]) -> tuple[TacticGroup, ...]:
        """Tactics with their techniques (sub-techniques nested under their parent), tactics in the order
        of `self.tactics` then of first appearance; a named tactic without technique is kept empty.
        `lookup` resolves a parent id when the rule names only the sub-technique."""
        order: list[Tactic] = list(self.tactics)
        placed: dict[Tactic, dict[str, list[Technique]]] = {t: {} for t in order}
        for technique in self.techniques:
            parent = lookup(technique.parent) if technique.parent else technique
            if parent is None:  # sub-technique whose parent is missing from the data: keep it alone
                parent = technique
            for tactic in self.tactics_of(technique):
                if tactic not in placed:
                    order.append(tactic)
                    placed[tactic] = {}
                subs = placed[tactic].setdefault(parent.id, [parent])
                if technique is not parent and technique not in subs:
                    subs.append(technique)
        return tuple(
            TacticGroup(tactic, tuple(TechniqueGroup(group[0], tuple(group[1:]))
                                      for group in placed[tactic].values()))
            for tactic in order)


def tag_text(tag: object) -> str:
    """`attack.t1059.001` from a plain string or a pySigma SigmaRuleTag (namespace + name)."""
    namespace = getattr(tag, "namespace", None)
    if namespace is not None:
        return f"{namespace}.{tag.name}"
    return str(tag)


def parse_tags(tags: Iterable[object], data: AttackData) -> AttackTags:
    tactics: list[Tactic] = []
    techniques: list[Technique] = []
    other: list[str] = []
    unknown: list[str] = []
    for tag in tags:
        text = tag_text(tag).strip()
        namespace, _, name = text.partition(".")
        if namespace.lower() != "attack" or not name:
            continue
        name = name.lower()
        if _TECHNIQUE_TAG.match(name):
            technique = data.technique(name)
            if technique is None:
                unknown.append(text)
            elif technique not in techniques:
                techniques.append(technique)
        elif _OTHER_OBJECT_TAG.match(name):
            other.append(text)
        else:
            tactic = data.tactic(name)
            if tactic is None:
                unknown.append(text)
            elif tactic not in tactics:
                tactics.append(tactic)
    return AttackTags(tuple(tactics), tuple(techniques), tuple(other), tuple(unknown))
