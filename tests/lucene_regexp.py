"""Lucene RegExp → Python regex for the test evaluators: the harness's module."""

from sigma_es_backend.harness.lucene_regexp import lucene_fullmatch, python_regex

__all__ = ["lucene_fullmatch", "python_regex"]
