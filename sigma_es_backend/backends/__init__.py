"""The backends, one module per query language. `backends` is the registry of their target ids."""

from sigma_es_backend.backends.dsl import DslBackend
from sigma_es_backend.backends.eql import EqlBackend
from sigma_es_backend.backends.esql import EsqlBackend
from sigma_es_backend.backends.kql import KqlBackend
from sigma_es_backend.backends.lucene import LuceneBackend

backends = {cls.identifier: cls for cls in (LuceneBackend, EqlBackend, DslBackend, EsqlBackend, KqlBackend)}

__all__ = ["DslBackend", "EqlBackend", "EsqlBackend", "KqlBackend", "LuceneBackend", "backends"]
