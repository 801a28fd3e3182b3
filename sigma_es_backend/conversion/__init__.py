"""Batch conversion: many rule files → one result per rule, one bad rule never stops the batch."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from sigma_es_backend.backends import backends
from sigma_es_backend.pipelines import pipelines

RULE_SUFFIXES = (".yml", ".yaml")


@dataclass
class RuleResult:
    """Outcome of converting one rule (or one unreadable file)."""

    path: str
    rule_id: str | None = None
    title: str | None = None
    queries: list[Any] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "id": self.rule_id, "title": self.title,
                "queries": self.queries, "error": self.error}


def iter_rule_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file())
        else:
            yield path


def resolve_pipeline(names: Iterable[str]) -> ProcessingPipeline:
    """Registry ids (`ecs`) or paths of pySigma YAML pipeline files, combined in order."""
    combined = ProcessingPipeline()
    for name in names:
        if name in pipelines:
            combined += pipelines[name]()
        elif Path(name).is_file():
            combined += ProcessingPipeline.from_yaml(Path(name).read_text(encoding="utf-8"))
        else:
            raise ValueError(f"unknown pipeline '{name}' (known: {', '.join(sorted(pipelines))}, or a YAML file)")
    return combined


def _load_file(path: Path) -> SigmaCollection:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    text = path.read_text(encoding="utf-8")
    documents = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    return SigmaCollection.from_dicts(documents, collect_errors=True, source=None) if documents else SigmaCollection([])


def convert_paths(paths: Iterable[Path], target: str, pipeline_names: Iterable[str] = ("ecs",),
                  output_format: str = "default", backend_options: dict[str, Any] | None = None,
                  ) -> Iterator[RuleResult]:
    """Convert every rule file under `paths`; yields one RuleResult per rule or unreadable file."""
    backend_class = backends[target]
    pipeline = resolve_pipeline(pipeline_names)
    for path in iter_rule_files(paths):
        try:
            collection = _load_file(path)
        except (OSError, yaml.YAMLError, SigmaError) as error:
            yield RuleResult(str(path), error=f"cannot read rule file: {error}")
            continue
        for rule in collection.rules:
            rule.source = SigmaRuleLocation(path)
            yield _convert_rule(rule, path, backend_class, pipeline, output_format, backend_options or {})


def _convert_rule(rule: Any, path: Path, backend_class: type, pipeline: ProcessingPipeline,
                  output_format: str, backend_options: dict[str, Any]) -> RuleResult:
    rule_id = str(rule.id) if getattr(rule, "id", None) else None
    result = RuleResult(str(path), rule_id, getattr(rule, "title", None))
    if rule.errors:
        result.error = "; ".join(str(e) for e in rule.errors)
        return result
    if not isinstance(rule, SigmaRule):
        result.error = "correlation rules are not supported yet"
        return result
    backend = backend_class(processing_pipeline=pipeline, collect_errors=True, **backend_options)
    try:
        result.queries = backend.convert(SigmaCollection([rule]), output_format)
    except SigmaError as error:
        result.error = str(error)
    except Exception as error:  # noqa: BLE001 - one broken rule must not stop the batch
        result.error = f"{type(error).__name__}: {error}"
    if backend.errors:
        result.error = "; ".join(str(e) for _, e in backend.errors)
        result.queries = []
    return result
