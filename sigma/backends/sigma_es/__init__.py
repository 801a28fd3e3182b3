# pySigma discovery shim: every Backend class in this namespace becomes a sigma-cli target.
# Import nothing else here (a stray TextQueryBackend would show up as a bogus target).
from sigma_es_backend.backends import DslBackend, EqlBackend, EsqlBackend, KqlBackend, LuceneBackend, backends

__all__ = ["DslBackend", "EqlBackend", "EsqlBackend", "KqlBackend", "LuceneBackend", "backends"]
