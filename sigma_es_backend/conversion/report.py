"""Coverage report: per rule fully mapped / converted with warnings / failed + reason, and totals.

`--report FILE` writes it as JSON (`.json`), Markdown (`.md`) or CSV (`.csv`), chosen by the suffix;
the totals by product and by category are printed on stderr.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma_es_backend.conversion.results import RuleResult

MAPPED = "mapped"  # converted, no warning (e.g. no field passed through unmapped)
WARNINGS = "warnings"  # converted, with warnings saying what is not fully mapped
FAILED = "failed"
STATUSES = (MAPPED, WARNINGS, FAILED)
REPORT_FORMATS = (".json", ".md", ".csv")


def status_of(result: RuleResult) -> str:
    if not result.ok:
        return FAILED
    return WARNINGS if result.warnings else MAPPED


@dataclass
class Totals:
    group: str
    counts: Counter = field(default_factory=Counter)

    @property
    def rules(self) -> int:
        return sum(self.counts.values())

    @property
    def mapped_percent(self) -> float:
        return 100.0 * self.counts[MAPPED] / self.rules if self.rules else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.group, "rules": self.rules, **{s: self.counts[s] for s in STATUSES},
                "mapped_percent": round(self.mapped_percent, 1)}


class CoverageReport:
    """Collects results as they stream by; nothing but the per-rule rows is kept."""

    def __init__(self, target: str, pipelines: tuple[str, ...]):
        self.target = target
        self.pipelines = pipelines
        self.rows: list[dict[str, Any]] = []

    def add(self, result: RuleResult) -> None:
        self.rows.append({
            "path": result.path, "id": result.rule_id, "title": result.title,
            "product": result.product, "category": result.category, "service": result.service,
            "status": status_of(result), "reasons": list(result.errors), "warnings": list(result.warnings),
        })

    def totals(self, key: str | None = None) -> list[Totals]:
        """Totals overall (key None) or per value of `product` / `category` (largest groups first)."""
        groups: dict[str, Totals] = {}
        for row in self.rows:
            name = "all" if key is None else (row[key] or "(none)")
            groups.setdefault(name, Totals(name)).counts[row["status"]] += 1
        return sorted(groups.values(), key=lambda t: (-t.rules, t.group))

    @property
    def overall(self) -> Totals:
        return self.totals()[0] if self.rows else Totals("all")

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "pipelines": list(self.pipelines), "summary": self.overall.as_dict(),
                "by_product": [t.as_dict() for t in self.totals("product")],
                "by_category": [t.as_dict() for t in self.totals("category")],
                "rules": self.rows}

    def write(self, path: Path) -> None:
        suffix = path.suffix.lower()
        if suffix == ".json":
            path.write_text(json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        elif suffix == ".md":
            path.write_text(self.markdown(), encoding="utf-8")
        elif suffix == ".csv":
            with path.open("w", newline="", encoding="utf-8") as stream:
                writer = csv.writer(stream)
                writer.writerow(["path", "id", "title", "product", "category", "service", "status",
                                 "reasons", "warnings"])
                for row in self.rows:
                    writer.writerow([row["path"], row["id"], row["title"], row["product"], row["category"],
                                     row["service"], row["status"], " | ".join(row["reasons"]),
                                     " | ".join(row["warnings"])])
        else:
            raise ValueError(f"report format '{suffix}' unknown (use {', '.join(REPORT_FORMATS)})")

    def summary_line(self) -> str:
        o = self.overall
        return (f"coverage: {o.counts[MAPPED]}/{o.rules} rules fully mapped ({o.mapped_percent:.1f} %), "
                f"{o.counts[WARNINGS]} with warnings, {o.counts[FAILED]} failed")

    def totals_text(self) -> str:
        """The totals tables printed on stderr."""
        lines = []
        for key in ("product", "category"):
            lines.append(f"{key:<28} {'rules':>6} {MAPPED:>7} {WARNINGS:>8} {FAILED:>7} {'mapped%':>8}")
            for t in self.totals(key):
                lines.append(f"{t.group:<28} {t.rules:>6} {t.counts[MAPPED]:>7} {t.counts[WARNINGS]:>8} "
                             f"{t.counts[FAILED]:>7} {t.mapped_percent:>8.1f}")
            lines.append("")
        lines.append(self.summary_line())
        return "\n".join(lines)

    def markdown(self) -> str:
        def table(key: str) -> list[str]:
            out = [f"| {key} | rules | {MAPPED} | {WARNINGS} | {FAILED} | mapped % |", "|---|---:|---:|---:|---:|---:|"]
            out += [f"| {t.group} | {t.rules} | {t.counts[MAPPED]} | {t.counts[WARNINGS]} | {t.counts[FAILED]} "
                    f"| {t.mapped_percent:.1f} |" for t in self.totals(key)]
            return out

        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = [f"# Coverage: {self.target}, pipelines {', '.join(self.pipelines)}", "", self.summary_line(), "",
                 "## By product", "", *table("product"), "", "## By category", "", *table("category"), "",
                 "## Rules not fully mapped", "", "| rule | logsource | status | reason / warnings |",
                 "|---|---|---|---|"]
        for row in self.rows:
            if row["status"] != MAPPED:
                logsource = "/".join(row[k] for k in ("product", "category", "service") if row[k])
                lines.append(f"| {cell(row['path'])} | {cell(logsource)} | {row['status']} | "
                             f"{cell('; '.join(row['reasons'] + row['warnings']))} |")
        return "\n".join(lines) + "\n"
