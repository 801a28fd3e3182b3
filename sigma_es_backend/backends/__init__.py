"""The backends, one module per query language. `backends` is the registry of their target ids.

Each class is imported on first use, so `import sigma_es_backend.backends` does not load pySigma:
`sigma-es convert` answers a fully cached run without it (issue: ≤ 0.5 s for the whole corpus).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sigma_es_backend.backends.dsl import DslBackend
    from sigma_es_backend.backends.eql import EqlBackend
    from sigma_es_backend.backends.esql import EsqlBackend
    from sigma_es_backend.backends.kql import KqlBackend
    from sigma_es_backend.backends.lucene import LuceneBackend

# target id → (module, class); tests/unit/test_backends.py checks each id is its class's `identifier`.
_CLASSES: dict[str, tuple[str, str]] = {
    "es_lucene": ("lucene", "LuceneBackend"),
    "es_eql": ("eql", "EqlBackend"),
    "es_dsl": ("dsl", "DslBackend"),
    "es_esql": ("esql", "EsqlBackend"),
    "es_kql": ("kql", "KqlBackend"),
}


class _BackendRegistry(Mapping[str, type]):
    """Read-only mapping target id → backend class, importing a class when it is first looked up."""

    def __getitem__(self, target: str) -> type:
        module, name = _CLASSES[target]
        return getattr(import_module(f"{__name__}.{module}"), name)

    def __iter__(self) -> Iterator[str]:
        return iter(_CLASSES)

    def __len__(self) -> int:
        return len(_CLASSES)


backends: Mapping[str, type] = _BackendRegistry()


def __getattr__(name: str) -> Any:
    for target, (_, class_name) in _CLASSES.items():
        if class_name == name:
            return backends[target]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DslBackend", "EqlBackend", "EsqlBackend", "KqlBackend", "LuceneBackend", "backends"]
