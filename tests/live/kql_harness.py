"""Run KQL the way Kibana would, on OpenSearch: parse (Kibana's grammar), translate to Query DSL (Kibana's
rules), and bridge the one engine difference on `wildcard`-typed fields.

On `wildcard`-typed fields OpenSearch 2.19 evaluates query_string wildcard terms on n-grams and mis-reads
escaped ordinary characters (`\\-`) in wildcard queries (tests/live/test_kql_live.py shows both);
Elasticsearch, where Kibana runs, evaluates them as the wildcard pattern. Only on such fields the harness
sends the same pattern as a DSL `wildcard` query escaping just `*`, `?` and `\\` (the form es_dsl uses and
the live tests prove on OpenSearch). A query_string that is not one exact wildcard term fails the test.
OpenSearch's wildcard field also returns no hits for a literal backslash directly before a `*` (es_dsl
refuses such patterns for OpenSearch: common.opensearch_wildcard_field_backslash_error); no equivalent
query exists there, so such a KQL query raises NotEvaluableOnOpenSearch and the caller says so.
"""

from __future__ import annotations

import functools
from typing import Any

from opensearchpy import OpenSearch

from tests.kql_kibana import parse, to_dsl
from tests.live.conftest import search_ids

# detection_engine: no field types (Kibana's detection rules); data_view: a Discover data view.
MODES = ("detection_engine", "data_view")


@functools.cache
def field_types(client: OpenSearch, index: str) -> dict[str, list[str]]:
    """{field path: [es type]} of an index, multi-fields included (what a data view lists)."""
    types: dict[str, list[str]] = {}

    def walk(properties: dict[str, Any], prefix: str) -> None:
        for name, spec in properties.items():
            path = prefix + name
            if "type" in spec:
                types[path] = [spec["type"]]
            for sub, sub_spec in spec.get("fields", {}).items():
                types[f"{path}.{sub}"] = [sub_spec["type"]]
            walk(spec.get("properties", {}), path + ".")

    walk(client.indices.get_mapping(index=index)[index]["mappings"].get("properties", {}), "")
    return types


def _query_string_term(query: str) -> list[str | None]:
    """One query_string term → literal characters and None for `*`; fails on anything else."""
    out: list[str | None] = []
    chars = iter(query)
    for c in chars:
        if c == "\\":
            out.append(next(chars))
        elif c == "*":
            out.append(None)
        elif c in " \t\n\r\u3000" or c == "?":
            raise AssertionError(f"query_string {query!r} is not one exact wildcard term")
        else:
            out.append(c)
    return out


class NotEvaluableOnOpenSearch(Exception):
    """The query is exact on Elasticsearch, but OpenSearch cannot evaluate it (see the module docstring)."""


def for_opensearch(dsl: Any, wildcard_fields: set[str]) -> Any:
    """The same query with clauses on wildcard-typed fields in the form OpenSearch evaluates right."""
    if isinstance(dsl, list):
        return [for_opensearch(d, wildcard_fields) for d in dsl]
    if not isinstance(dsl, dict):
        return dsl
    if "query_string" in dsl and dsl["query_string"].get("fields", [None])[0] in wildcard_fields:
        field = dsl["query_string"]["fields"][0]
        term = _query_string_term(dsl["query_string"]["query"])
        if any(c == "\\" and after is None for c, after in zip(term, term[1:], strict=False)):
            raise NotEvaluableOnOpenSearch(f"literal backslash before '*' on wildcard field {field}")
        value = "".join("*" if c is None else ("\\" + c if c in "*?\\" else c) for c in term)
        return {"wildcard": {field: {"value": value}}}
    return {key: for_opensearch(value, wildcard_fields) for key, value in dsl.items()}


def kql_ids(client: OpenSearch, index: str, query: str, mode: str) -> set[str]:
    return search_ids(client, index, {"query": kibana_dsl(client, index, query, mode)})




def kibana_dsl(client: OpenSearch, index: str, query: str, mode: str) -> dict[str, Any]:
    """The Query DSL Kibana sends for `query`, in the form OpenSearch evaluates like Elasticsearch."""
    types = field_types(client, index)
    dsl = to_dsl(parse(query), types if mode == "data_view" else None)
    return for_opensearch(dsl, {f for f, t in types.items() if t == ["wildcard"]})
