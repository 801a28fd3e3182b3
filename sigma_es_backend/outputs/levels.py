"""Sigma `level` → severity and risk for every detection output: the one table.

Kibana accepts only low|medium|high|critical, so `informational` becomes `low` with the lowest risk
score; risk scores sit inside Elastic's bands (low ≤ 21, medium ≤ 47, high ≤ 73, critical ≤ 99).
OpenSearch Alerting severities are "1" (highest) … "5" (lowest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

KibanaSeverity = Literal["low", "medium", "high", "critical"]
OpenSearchSeverity = Literal["1", "2", "3", "4", "5"]


@dataclass(frozen=True)
class LevelMapping:
    kibana_severity: KibanaSeverity
    risk_score: int
    opensearch_severity: OpenSearchSeverity


LEVELS: dict[str, LevelMapping] = {
    "informational": LevelMapping("low", 1, "5"),
    "low": LevelMapping("low", 21, "4"),
    "medium": LevelMapping("medium", 47, "3"),
    "high": LevelMapping("high", 73, "2"),
    "critical": LevelMapping("critical", 99, "1"),
}
# Sigma's level is optional; a rule without one is treated as medium (and says so in its note).
DEFAULT_LEVEL = "medium"


def level_name(rule_level: object) -> str:
    """The rule's level as a LEVELS key (pySigma's SigmaLevel enum or None)."""
    name = getattr(rule_level, "name", None) or (str(rule_level) if rule_level else DEFAULT_LEVEL)
    return name.lower()


def level_mapping(rule_level: object) -> LevelMapping:
    return LEVELS[level_name(rule_level)]
