"""Batch conversion: many rule files → one result per rule; one bad rule never stops the batch.

Modules: `loading` (find files), `parsing` (libyaml parsing), `converter` (one backend per process, per-rule error
isolation), `batch` (worker processes, file order, cache), `cache` (content-hash cache), `output`
(query lines, JSON lines, one file per rule), `report` (coverage report), `run` (what
`sigma-es convert` does). Only `converter` imports pySigma, so a fully cached run never loads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sigma_es_backend.conversion.loading import RULE_SUFFIXES, iter_rule_files
from sigma_es_backend.conversion.results import RuleResult
from sigma_es_backend.conversion.settings import ConversionSettings


def convert_paths(paths: Iterable[Path], target: str, pipeline_names: Iterable[str] = ("ecs",),
                  output_format: str = "default", backend_options: dict[str, Any] | None = None,
                  jobs: int | None = 1) -> Iterator[RuleResult]:
    """Convert every rule file under `paths` (in this process unless `jobs` says otherwise, no cache);
    yields one RuleResult per rule or unreadable file, in file order."""
    from sigma_es_backend.conversion.batch import convert_files

    settings = ConversionSettings.create(target, tuple(pipeline_names), output_format, backend_options)
    yield from convert_files(list(iter_rule_files(paths)), settings, jobs=jobs)


def __getattr__(name: str) -> Any:
    # Imported on demand: both load pySigma.
    if name in ("Converter", "resolve_pipeline"):
        from sigma_es_backend.conversion import converter

        return getattr(converter, name)
    raise AttributeError(name)


__all__ = ["RULE_SUFFIXES", "ConversionSettings", "RuleResult", "convert_paths", "iter_rule_files"]
