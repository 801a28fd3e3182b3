"""Evaluate EQL queries on in-memory events with the `eql` package, with Elasticsearch's semantics
(how the rule test harness runs es_eql without an Elasticsearch cluster; the tests use it too).

The `eql` package parses Elasticsearch syntax (`:`, `like~`, `regex~`, `startsWith~`, …) but then
drops what distinguishes the operators: every string comparison is case-insensitive, `?` is not a
wildcard and `regex` matches a prefix rather than the whole value. Elasticsearch documents:
`==`, `like`, `regex`, `startsWith` … are case-sensitive, `:` and the `~` forms case-insensitive;
`*` and `?` are the wildcards of `:`/`like`; regular expressions match the whole value (Lucene
RegExp). So the parser's predicate and function nodes are rewritten to functions with exactly
those semantics, and the engine runs with case-sensitive `==`. Parsing, null logic, boolean
structure and everything else stay the `eql` package's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import eql
import eql.parser
import eql.utils
from eql import ast
from eql.engine import PythonEngine
from eql.functions import FunctionSignature, get_function, register
from eql.types import TypeHint

from sigma_es_backend.harness.lucene_regexp import lucene_fullmatch


def _glob_regex(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


class _EsFunction(FunctionSignature):
    argument_types = [TypeHint.String, TypeHint.String]
    return_value = TypeHint.Boolean
    insensitive = False

    @classmethod
    def fold(cls, value: str) -> str:
        # Elasticsearch's case-insensitive EQL operators become case_insensitive queries: ASCII only.
        return "".join(c.lower() if c.isascii() else c for c in value) if cls.insensitive else value

    @classmethod
    def test(cls, source: str, argument: str) -> bool:
        raise NotImplementedError

    @classmethod
    def run(cls, source: Any, argument: Any) -> bool | None:
        if not isinstance(source, str) or not isinstance(argument, str):
            return None
        return cls.test(source, argument)


def _define(name: str, insensitive: bool, test: Any) -> str:
    if get_function(name) is None:
        register(type(name, (_EsFunction,), {"name": name, "insensitive": insensitive,
                                             "test": classmethod(test)}))
    return name


def _like(cls: Any, source: str, pattern: str) -> bool:
    return re.fullmatch(_glob_regex(cls.fold(pattern)), cls.fold(source), re.DOTALL) is not None


def _regex(cls: Any, source: str, pattern: str) -> bool:
    return lucene_fullmatch(pattern, source, ignore_case=cls.insensitive)


def _starts(cls: Any, source: str, prefix: str) -> bool:
    return cls.fold(source).startswith(cls.fold(prefix))


def _ends(cls: Any, source: str, suffix: str) -> bool:
    return cls.fold(source).endswith(cls.fold(suffix))


def _contains(cls: Any, source: str, part: str) -> bool:
    return cls.fold(part) in cls.fold(source)


# EQL syntax → (function for the case-sensitive form, function for the `~` form)
_PREDICATES = {
    ":": _define("esLikeCi", True, _like),
    "like": _define("esLike", False, _like),
    "like~": _define("esLikeCi", True, _like),
    "regex": _define("esRegex", False, _regex),
    "regex~": _define("esRegexCi", True, _regex),
}
_FUNCTIONS = {
    "startsWith": (_define("esStartsWith", False, _starts), _define("esStartsWithCi", True, _starts)),
    "endsWith": (_define("esEndsWith", False, _ends), _define("esEndsWithCi", True, _ends)),
    "stringContains": (_define("esStringContains", False, _contains),
                       _define("esStringContainsCi", True, _contains)),
}

_original_string_predicate = eql.parser.LarkToEQL.string_predicate
_original_function_call = eql.parser.LarkToEQL.function_call


def _string_predicate(self: Any, node: Any) -> Any:
    info = _original_string_predicate(self, node)
    info.node = ast.FunctionCall(_PREDICATES[str(node["STRING_PREDICATE"])], info.node.arguments)
    return info


def _function_call(self: Any, node: Any, *args: Any, **kwargs: Any) -> Any:
    name_node = node["method_name"] if node.data == "method" else node.children[0]
    raw = str(self.method_name(name_node) if node.data == "method" else self.name(name_node))
    info = _original_function_call(self, node, *args, **kwargs)
    base = raw.rstrip("~")
    if base in _FUNCTIONS and isinstance(info.node, ast.FunctionCall):
        info.node = ast.FunctionCall(_FUNCTIONS[base][raw.endswith("~")], info.node.arguments)
    return info


@contextmanager
def _elasticsearch_semantics() -> Iterator[None]:
    saved = eql.utils.CASE_INSENSITIVE
    eql.parser.LarkToEQL.string_predicate = _string_predicate
    eql.parser.LarkToEQL.function_call = _function_call
    eql.utils.CASE_INSENSITIVE = False  # `==` on strings is case-sensitive in Elasticsearch EQL
    try:
        yield
    finally:
        eql.utils.CASE_INSENSITIVE = saved
        eql.parser.LarkToEQL.string_predicate = _original_string_predicate
        eql.parser.LarkToEQL.function_call = _original_function_call


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
    with _elasticsearch_semantics():
        with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
            parsed = eql.parse_query(query)
        hits: list[Any] = []
        engine = PythonEngine({"flatten": True})
        engine.add_query(parsed)
        engine.add_output_hook(hits.append)
        ids = list(documents)
        engine.stream_events([eql.Event("any", index, _single_values(documents[doc_id]))
                              for index, doc_id in enumerate(ids)])
    return {ids[hit.time] for hit in hits}


def eql_sequences(query: str, events: list[tuple[str, int, dict[str, Any]]]) -> list[tuple[str, ...]]:
    """The matches of an EQL query over timed events [(id, time in seconds, document)], in time order:
    the ids of each sequence (or of each single event). `maxspan` is compared in seconds."""
    with _elasticsearch_semantics():
        with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
            parsed = eql.parse_query(query)
        results: list[tuple[str, ...]] = []
        engine = PythonEngine({"flatten": False, "time_unit": 1})
        engine.add_query(parsed)
        ordered = sorted(events, key=lambda e: e[1])
        wrapped = [eql.Event("any", time, _single_values(doc)) for _, time, doc in ordered]
        ids = {id(event): doc_id for event, (doc_id, _, _) in zip(wrapped, ordered, strict=True)}
        engine.add_output_hook(lambda result: results.append(tuple(ids[id(e)] for e in result.events)))
        engine.stream_events(wrapped)
    return results
