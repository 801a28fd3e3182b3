"""Evaluate EQL queries on in-memory events with the `eql` package (Elasticsearch syntax).

The `eql` package follows Elasticsearch's case-insensitive operators (`:`, `like~`, `regex~`) and its
null semantics; it also treats `==`/`like` as case-insensitive, so cased matches are not proven here.
"""

from __future__ import annotations

from typing import Any

import eql
from eql.engine import PythonEngine


def _single_values(node: Any) -> Any:
    """Elasticsearch compares any element of an array field; the eql package compares the array.
    One-element arrays (event.category: ["process"]) are therefore unwrapped for evaluation."""
    if isinstance(node, dict):
        return {k: _single_values(v) for k, v in node.items()}
    if isinstance(node, list):
        return _single_values(node[0]) if len(node) == 1 else [_single_values(v) for v in node]
    return node


def eql_hits(query: str, documents: dict[str, dict[str, Any]]) -> set[str]:
    """Ids (keys of `documents`) of the documents the EQL query returns."""
    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        ast = eql.parse_query(query)
    hits: list[Any] = []
    engine = PythonEngine({"flatten": True})
    engine.add_query(ast)
    engine.add_output_hook(hits.append)
    ids = list(documents)
    engine.stream_events([eql.Event("any", index, _single_values(documents[doc_id])) for index, doc_id in enumerate(ids)])
    return {ids[hit.time] for hit in hits}
