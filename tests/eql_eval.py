"""EQL evaluation for tests: the harness's evaluator (sigma_es_backend.harness.eql_eval)."""

from sigma_es_backend.harness.eql_eval import eql_hits

__all__ = ["eql_hits"]
