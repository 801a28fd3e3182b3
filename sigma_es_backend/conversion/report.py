"""Coverage report: per rule fully mapped / converted with warnings / failed + reason, and totals.

Two figures per group: *fully mapped* is the pipeline's (every field and the log source mapped, no
passthrough warning: `RuleResult.fully_mapped`), *converted* the target's (it also expressed the rule).
A rule fully mapped but not converted is one the backend cannot express (e.g. a Lucene pattern on an
analyzed text field).

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

    fully_mapped: int = 0  # pipeline figure: rules whose fields and log source were all mapped

    @property
    def converted(self) -> int:
        """Target figure: rules converted with no warning."""
        return self.counts[MAPPED]

    @property
    def backend_failed(self) -> int:
        """Fully mapped, yet the target could not express them."""
        return self.fully_mapped - self.converted

    def _percent(self, count: int) -> float:
        return 100.0 * count / self.rules if self.rules else 0.0

    @property
    def mapped_percent(self) -> float:
        return self._percent(self.converted)

    @property
    def fully_mapped_percent(self) -> float:
        return self._percent(self.fully_mapped)

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.group, "rules": self.rules, **{s: self.counts[s] for s in STATUSES},
                "fully_mapped": self.fully_mapped, "backend_failed": self.backend_failed,
                "fully_mapped_percent": round(self.fully_mapped_percent, 1),
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
            "status": status_of(result), "fully_mapped": result.fully_mapped, "reasons": list(result.errors), "warnings": list(result.warnings),
        })

    def totals(self, key: str | None = None) -> list[Totals]:
        """Totals overall (key None) or per value of `product` / `category` (largest groups first)."""
        groups: dict[str, Totals] = {}
        for row in self.rows:
            name = "all" if key is None else (row[key] or "(none)")
            totals = groups.setdefault(name, Totals(name))
            totals.counts[row["status"]] += 1
            totals.fully_mapped += row["fully_mapped"]
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
                                 "fully_mapped", "reasons", "warnings"])
                for row in self.rows:
                    writer.writerow([row["path"], row["id"], row["title"], row["product"], row["category"],
                                     row["service"], row["status"], row["fully_mapped"], " | ".join(row["reasons"]),
                                     " | ".join(row["warnings"])])
        else:
            raise ValueError(f"report format '{suffix}' unknown (use {', '.join(REPORT_FORMATS)})")

    def summary_line(self) -> str:
        o = self.overall
        return (f"coverage: {o.fully_mapped}/{o.rules} rules fully mapped by the pipeline "
                f"({o.fully_mapped_percent:.1f} %), {o.converted}/{o.rules} converted with {self.target} "
                f"({o.mapped_percent:.1f} %; {o.backend_failed} fully mapped but not expressible), "
                f"{o.counts[WARNINGS]} with warnings, {o.counts[FAILED]} failed")

    def totals_text(self) -> str:
        """The totals tables printed on stderr."""
        lines = []
        for key in ("product", "category"):
            lines.append(f"{key:<28} {'rules':>6} {MAPPED:>7} {WARNINGS:>8} {FAILED:>7} {'backend':>7} "
                         f"{'fully_mapped%':>13} {'converted%':>10}")
            for t in self.totals(key):
                lines.append(f"{t.group:<28} {t.rules:>6} {t.counts[MAPPED]:>7} {t.counts[WARNINGS]:>8} "
                             f"{t.counts[FAILED]:>7} {t.backend_failed:>7} {t.fully_mapped_percent:>13.1f} "
                             f"{t.mapped_percent:>10.1f}")
            lines.append("")
        lines.append(self.summary_line())
        return "\n".join(lines)

    def markdown(self) -> str:
        def table(key: str) -> list[str]:
            out = [f"| {key} | rules | {MAPPED} | {WARNINGS} | {FAILED} | backend cannot express "
                   "| fully mapped % | converted % |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
            out += [f"| {t.group} | {t.rules} | {t.counts[MAPPED]} | {t.counts[WARNINGS]} | {t.counts[FAILED]} "
                    f"| {t.backend_failed} | {t.fully_mapped_percent:.1f} | {t.mapped_percent:.1f} |"
                    for t in self.totals(key)]
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
