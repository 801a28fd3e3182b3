"""Every es_kql query for the SigmaHQ process_creation rules parses with Kibana's grammar, and every rule
either converts or fails with a reason (never a crash)."""

from __future__ import annotations

import warnings
from collections import Counter

import pytest

from sigma_es_backend.conversion import convert_paths
from tests.kql_kibana import parse, to_dsl


@pytest.fixture(scope="module")
def corpus_results(shared_dir):
    rules = shared_dir / "sigma" / "rules" / "windows" / "process_creation"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # case_approximation warns once per approximated value
        strict = list(convert_paths([rules], "es_kql"))
        approximated = list(convert_paths([rules], "es_kql", backend_options={"case_approximation": "true"}))
    return strict, approximated


def test_every_process_creation_query_parses_as_kql(corpus_results) -> None:
    strict, approximated = corpus_results
    queries = [q for result in strict + approximated for q in result.queries]
    assert len(queries) > 500  # 42 strict + 562 with case_approximation (November 2026 corpus)
    for query in queries:
        to_dsl(parse(query))  # raises on anything Kibana would not parse


def test_every_process_creation_rule_converts_or_gives_a_reason(corpus_results) -> None:
    strict, approximated = corpus_results
    crashes = [r for r in strict + approximated
               if r.error and ("Error:" in r.error.split(" ")[0] or r.error.startswith(("TypeError", "KeyError")))]
    assert crashes == []
    reasons = Counter(r.error.split(":")[1].strip()[:40] for r in strict if r.error and ":" in r.error)
    assert sum(1 for r in strict if r.ok) > 0, reasons
