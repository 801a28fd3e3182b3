"""The outcome of converting one rule: what every output, the cache and the report are made from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RuleResult:
    """One rule (or one unreadable file): its queries, or the reasons it failed, and any warnings.

    `queries` hold what the backend returned (strings, or JSON-like dicts for es_dsl); a rule converts
    fully when `errors` is empty, and is fully mapped when `warnings` is empty too.
    """

    path: str
    rule_id: str | None = None
    title: str | None = None
    product: str | None = None
    category: str | None = None
    service: str | None = None
    queries: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # What coverage and detection outputs need besides the queries (plain data, so it caches and crosses
    # worker processes): the rule's Sigma level and tags, the mapping files' data source the pipeline
    # chose ({id, title, integrations, setup}; None when none matched), and the fields the query reads
    # ([{name, type, ecs}], see conversion.context).
    level: str | None = None
    tags: list[str] = field(default_factory=list)
    data_source: dict[str, Any] | None = None
    required_fields: list[dict[str, Any]] = field(default_factory=list)
    # True when the processing pipeline applied to the rule without error (every field and the log
    # source mapped) and any failure is the backend's "cannot express" (`backends.common.unsupported`).
    pipeline_complete: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def error(self) -> str | None:
        """All errors in one line (None when the rule converted)."""
        return "; ".join(self.errors) if self.errors else None

    @property
    def fully_mapped(self) -> bool:
        """The pipeline mapped every field and the log source, and nothing passed through with a warning
        (the target may still have failed to express the rule)."""
        return self.pipeline_complete and not self.warnings

    @property
    def logsource_label(self) -> str:
        return "/".join(v for v in (self.product, self.category, self.service) if v) or "(none)"

    def as_dict(self) -> dict[str, Any]:
        """The JSON-lines record: path, id, title, logsource, queries, warnings, errors, and the rule's
        level, tags, data source and required fields."""
        return {"path": self.path, "id": self.rule_id, "title": self.title,
                "logsource": {"product": self.product, "category": self.category, "service": self.service},
                "queries": self.queries, "warnings": self.warnings, "errors": self.errors,
                "level": self.level, "tags": self.tags, "data_source": self.data_source,
                "required_fields": self.required_fields, "pipeline_complete": self.pipeline_complete}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleResult:
        logsource = data.get("logsource") or {}
        return cls(path=data["path"], rule_id=data.get("id"), title=data.get("title"),
                   product=logsource.get("product"), category=logsource.get("category"),
                   service=logsource.get("service"), queries=list(data.get("queries") or []),
                   errors=list(data.get("errors") or []), warnings=list(data.get("warnings") or []),
                   level=data.get("level"), tags=list(data.get("tags") or []), data_source=data.get("data_source"),
                   required_fields=list(data.get("required_fields") or []),
                   pipeline_complete=bool(data.get("pipeline_complete")))

    def fields(self) -> dict[str, Any]:
        return asdict(self)
