"""ATT&CK Navigator layer (layer format 4.5) scoring each technique, under each of its tactics, by the
converted rules that cover it and their levels."""

from __future__ import annotations

from typing import Any

from sigma_es_backend import __version__, attack
from sigma_es_backend.coverage import SIGMA_LEVELS, Cell, Coverage

LAYER_FORMAT = "4.5"
# Navigator 5.1.0 (August 2024) reads layer format 4.5; MITRE's layer library accepts any 5.x.
NAVIGATOR_VERSION = "5.1.0"
# A rule adds its level's weight to the score of every technique it covers: rule count and level
# in one number (3 high rules = 12 > 3 low rules = 6).
LEVEL_WEIGHTS = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
UNLEVELLED_WEIGHT = LEVEL_WEIGHTS["medium"]  # Sigma's level is optional
GRADIENT = ["#fff7bc", "#fec44f", "#d95f0e"]
GRADIENT_PERCENTILE = 0.9
MAX_RULES_LISTED = 25  # per technique in the metadata tooltip


def score(cell: Cell) -> int:
    return sum(LEVEL_WEIGHTS.get(rule.level or "", UNLEVELLED_WEIGHT) for rule in cell.rules)


def cell_comment(cell: Cell) -> str:
    levels = cell.levels()
    parts = [f"{levels[level]} {level}" for level in reversed(SIGMA_LEVELS) if levels[level]]
    if levels["none"]:
        parts.append(f"{levels['none']} without level")
    count = len(cell.rules)
    return f"{count} rule{'s' if count != 1 else ''}: {', '.join(parts)}"


def _metadata(cell: Cell) -> list[dict[str, Any]]:
    rules = sorted(cell.rules, key=lambda r: (-SIGMA_LEVELS.index(r.level) if r.level in SIGMA_LEVELS else 1,
                                              r.title or ""))
    items: list[dict[str, Any]] = [{"name": r.level or "no level", "value": r.title or r.path}
                                   for r in rules[:MAX_RULES_LISTED]]
    if len(rules) > MAX_RULES_LISTED:
        items.append({"name": "more", "value": f"{len(rules) - MAX_RULES_LISTED} more rules"})
    return items


def _attack_major(version: str) -> str:
    return version.split(".")[0]


def navigator_layer(coverage: Coverage, name: str | None = None) -> dict[str, Any]:
    cells = coverage.matrix()
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    for (technique_id, tactic), cell in sorted(cells.items()):
        entries[(technique_id, tactic)] = {
            "techniqueID": technique_id,
            "tactic": tactic,
            "score": score(cell),
            "comment": cell_comment(cell),
            "enabled": True,
            "metadata": _metadata(cell),
            "links": [{"label": f"{technique_id} on attack.mitre.org", "url": cell.technique.reference}],
        }
    # Parents of covered sub-techniques open by default, so the sub-technique scores are visible.
    for (_, tactic), cell in sorted(cells.items()):
        parent = cell.technique.parent
        if parent:
            entry = entries.setdefault((parent, tactic), {"techniqueID": parent, "tactic": tactic, "enabled": True})
            entry["showSubtechniques"] = True
    scores = sorted(e["score"] for e in entries.values() if "score" in e)
    # The gradient tops out at the 90th percentile: a few very common techniques (hundreds of rules)
    # would otherwise leave every other one in the palest colour. Higher scores get the top colour.
    top = max(scores[int(GRADIENT_PERCENTILE * (len(scores) - 1))] if scores else 1, 1)
    data = attack.data()
    converted, failed = len(coverage.converted), len(coverage.failed)
    return {
        "name": name or f"Sigma rules ({coverage.target})",
        "versions": {"attack": _attack_major(data.version), "navigator": NAVIGATOR_VERSION, "layer": LAYER_FORMAT},
        "domain": "enterprise-attack",
        "description": (f"{converted} Sigma rules converted to {coverage.target} ({failed} failed) from "
                        f"{', '.join(coverage.paths)}. Score = sum over the rules covering a technique of "
                        f"their level weight ({', '.join(f'{k} {v}' for k, v in LEVEL_WEIGHTS.items())})."),
        "sorting": 3,
        "layout": {"layout": "side", "showID": True, "showName": True, "showAggregateScores": True,
                   "countUnscored": False, "aggregateFunction": "sum", "expandedSubtechniques": "annotated"},
        "hideDisabled": False,
        "techniques": list(entries.values()),
        "gradient": {"colors": GRADIENT, "minValue": 0, "maxValue": top},
        "legendItems": [{"label": "one informational rule (score 1)", "color": GRADIENT[0]},
                        {"label": f"score {top} or more", "color": GRADIENT[-1]}],
        "showTacticRowBackground": False,
        "tacticRowBackground": "#dddddd",
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
        "metadata": [
            {"name": "generator", "value": f"sigma-es {__version__}"},
            {"name": "target", "value": coverage.target},
            {"name": "pipelines", "value": ", ".join(coverage.pipelines)},
            {"name": "rules converted", "value": str(converted)},
            {"name": "rules failed", "value": str(failed)},
            {"name": "ATT&CK data", "value": attack.data_version()},
        ],
    }
