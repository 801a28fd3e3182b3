"""What a conversion run is asked to do; the cache key is derived from it."""

from __future__ import annotations

from dataclasses import dataclass, field


class SettingsError(ValueError):
    """Unknown target, output format or pipeline: a usage error, reported before any rule converts."""


@dataclass(frozen=True)
class ConversionSettings:
    """Target query language, pipelines (registry ids or pySigma YAML files), output format, options."""

    target: str
    pipelines: tuple[str, ...] = ("ecs",)
    output_format: str = "default"
    backend_options: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @classmethod
    def create(cls, target: str, pipelines: tuple[str, ...] | list[str] = ("ecs",), output_format: str = "default",
               backend_options: dict[str, str] | None = None) -> ConversionSettings:
        return cls(target, tuple(pipelines), output_format, tuple(sorted((backend_options or {}).items())))
