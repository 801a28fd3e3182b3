"""Property: any value, however full of reserved characters, matches exactly the documents Sigma says.

Hypothesis draws batches of values from an alphabet of every character some target language reserves
(Lucene query_string and RegExp, DSL wildcard, EQL strings, Sigma's own `*` `?` `\\`), letters in
both cases (ASCII and not), digits, whitespace and a newline. Each value is used as an exact /
contains / startswith / endswith Sigma value (its wildcards escaped, so it is literal text). Each
batch is indexed once (the value's own document, in a random case, plus near-miss decoys); every
generated query runs through one `_msearch` and must return exactly the documents a plain Python
reference of Sigma's semantics selects. Fields: a keyword without `.caseless` (Lucene writes a
RegExp), a keyword with `.caseless` (Lucene writes an escaped term) and a wildcard field (es_dsl).
es_eql and es_esql run a sample of the same values through the `eql` package and the ES|QL evaluator. es_kql's queries run as Kibana would send them
(parsed with Kibana's grammar, translated to Query DSL as the detection engine and a Discover data view
do: tests/live/kql_harness.py); es_kql may refuse only what KQL cannot say (checked against the value).

SIGMA_ES_FUZZ_EXAMPLES sets the number of batches (default 3 × 200 values × 4 modes; 50 of them also on the wildcard field);
a nightly run can use e.g. SIGMA_ES_FUZZ_EXAMPLES=200.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opensearchpy import OpenSearch, helpers
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import SetStateTransformation

from sigma_es_backend.backends import backends
from sigma_es_backend.backends.common import FIELD_CAPABILITIES_STATE, FieldCapabilities, query_string_query
from tests.eql_eval import eql_hits
from tests.esql_eval import esql_hits
from tests.live.kql_harness import MODES as KQL_MODES
from tests.live.kql_harness import NotEvaluableOnOpenSearch, kibana_dsl

pytestmark = pytest.mark.live

EXAMPLES = int(os.environ.get("SIGMA_ES_FUZZ_EXAMPLES", "3"))
BATCH = 200
EVALUATORS = {"es_eql": eql_hits, "es_esql": esql_hits}
# values per batch also evaluated in Python (all modes, all fields); the eql package's engine is slow
SAMPLES = {"es_eql": 4, "es_esql": 40}

RESERVED = '+-=&|><!(){}[]^"~*?:\\/ #@.%$\',;`'
ALPHABET = RESERVED + "aAbBzZ09" + "äÄéÉωΩ日✓" + "\t\n"

# field → (capabilities, targets that must convert it, values per batch used on it)
FIELDS: dict[str, tuple[FieldCapabilities, tuple[str, ...], int]] = {
    "plain": (FieldCapabilities("keyword"), ("es_lucene", "es_dsl", "es_eql", "es_esql", "es_kql"), BATCH),
    "exe": (FieldCapabilities("keyword", caseless="exe.caseless"), ("es_lucene", "es_dsl", "es_eql", "es_esql", "es_kql"),
            BATCH),
    # wildcard-typed fields answer wildcard/regexp queries 10-50x slower: a sample per batch
    "cmd": (FieldCapabilities("wildcard"), ("es_dsl", "es_eql", "es_esql", "es_kql"), 50),
}
PIPELINE = ProcessingPipeline(items=[ProcessingItem(
    identifier="fuzz_fields",
    transformation=SetStateTransformation(FIELD_CAPABILITIES_STATE, {f: c for f, (c, _, _) in FIELDS.items()}))])
MODES: dict[str, Callable[[str, str], bool]] = {
    # Sigma's default matching, with Python's lower() as the case fold (the alphabet's letters fold 1:1)
    "": lambda value, doc: doc.lower() == value.lower(),
    "contains": lambda value, doc: value.lower() in doc.lower(),
    "startswith": lambda value, doc: doc.lower().startswith(value.lower()),
    "endswith": lambda value, doc: doc.lower().endswith(value.lower()),
}


def sigma_literal(text: str) -> str:
    """The Sigma value spelling of a literal text: Sigma's wildcards and escape character escaped."""
    return "".join("\\" + c if c in "*?\\" else c for c in text)


def rule(field: str, mode: str, value: str) -> dict[str, Any]:
    key = f"{field}|{mode}" if mode else field
    return {"title": "fuzz", "status": "test", "logsource": {"category": "fuzz"},
            "detection": {"sel": {key: sigma_literal(value)}, "condition": "sel"}}


def documents(values: list[str], swaps: list[bool]) -> dict[str, str]:
    """Per value: its own text (maybe case-swapped), wrapped for contains, and near-miss decoys."""
    docs: dict[str, str] = {}
    for i, (value, swap) in enumerate(zip(values, swaps, strict=True)):
        own = value.swapcase() if swap else value
        docs[f"{i}-own"] = own
        docs[f"{i}-wrapped"] = "<" + own + ">"
        docs[f"{i}-short"] = value[:-1]
        docs[f"{i}-longer"] = value + value[-1]
        docs[f"{i}-star"] = value.replace("*", "x").replace("?", "").replace("\\", "/") + "\\"
    return docs


@pytest.fixture(scope="module")
def fuzz_index(opensearch: OpenSearch, live_index_name) -> Any:
    name = live_index_name("fuzz")
    keyword = {"type": "keyword"}
    body = {"settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0},
                         "analysis": {"normalizer": {"lower": {"type": "custom", "filter": ["lowercase"]}}}},
            "mappings": {"properties": {
                "batch": keyword, "plain": keyword, "cmd": {"type": "wildcard"},
                "exe": {"type": "keyword", "fields": {"caseless": {"type": "keyword", "normalizer": "lower"}}}}}}
    opensearch.indices.create(index=name, body=body)
    yield name
    opensearch.indices.delete(index=name, ignore_unavailable=True)


def kql_refusal_is_justified(field: str, mode: str, value: str, error: str) -> bool:
    """KQL cannot say: a case-insensitive value with many case spellings on a field without `.caseless`,
    whitespace inside a `*` pattern (Kibana's query_string term splits there), or whitespace at the
    open end of a startswith/endswith pattern (Kibana trims unquoted values)."""
    if "case-insensitive match" in error:
        return field != "exe" and sum(c.lower() != c.upper() for c in value) > 4
    if "whitespace" in error and mode:
        edge = {"startswith": value[:1], "endswith": value[-1:]}.get(mode, "")
        return any(c in " \t\n\r" for c in value) or edge.isspace()
    return False


def query_body(target: str, query: str) -> dict[str, Any]:
    if target == "es_lucene":
        return query_string_query(query)
    return json.loads(query)


counter = iter(range(10**9))


def check_batch(opensearch: OpenSearch, index: str, batch: str, values: list[str], swaps: list[bool],
                samples: dict[str, int]) -> list[tuple]:
    """Index the batch's documents, run every generated query; the mismatches (empty when exact)."""
    docs = documents(values, swaps)
    helpers.bulk(opensearch, ({"_index": index, "_id": f"{batch}/{doc_id}",
                               "_source": {"batch": batch, **dict.fromkeys(FIELDS, text)}}
                              for doc_id, text in docs.items()), refresh=True)
    checks: list[tuple[str, str, str, str, str]] = []  # target, field, mode, value, query
    failures: list[tuple] = []
    for field, (_, targets, sample) in FIELDS.items():
        pairs = [(mode, v) for v in values[:sample] for mode in MODES]
        rules = SigmaCollection.from_dicts([rule(field, mode, v) for mode, v in pairs]).rules
        for target in targets:
            # es_dsl's wildcard-type queries run on a real wildcard field here: engine=opensearch would read it
            # as keyword (the type the bundled OpenSearch template gives ECS wildcard fields)
            engine = "elasticsearch" if field == "cmd" else "opensearch"
            options = {"engine": engine} if target in ("es_lucene", "es_dsl") else {}
            output_format = "query" if target == "es_dsl" else "default"
            backend = backends[target](processing_pipeline=PIPELINE, **options)
            for (mode, v), sigma_rule in zip(pairs, rules, strict=True):
                try:
                    (query,) = backend.convert_rule(sigma_rule, output_format)
                except SigmaError as error:
                    # the refusals allowed here: what KQL cannot express
                    if not (target == "es_kql" and kql_refusal_is_justified(field, mode, v, str(error))):
                        failures.append((target, field, mode, v, "conversion error", str(error)))
                    continue
                checks.append((target, field, mode, v, query))

    @functools.cache
    def expected(mode: str, value: str) -> frozenset[str]:
        return frozenset(doc_id for doc_id, text in docs.items() if MODES[mode](value, text))

    live: list[tuple[str, str, str, str, Any]] = []  # KQL: once per Kibana translation
    for target, field, mode, value, query in checks:
        if target == "es_kql":
            try:
                live += [(target, field, mode, value, kibana_dsl(opensearch, index, query, m)) for m in KQL_MODES]
            except NotEvaluableOnOpenSearch:
                continue  # backslash before `*` on the wildcard field: exact on Elasticsearch, not here
        elif target in ("es_lucene", "es_dsl"):
            live.append((target, field, mode, value, query_body(target, query)))
    searches: list[dict[str, Any]] = []
    for _, _, _, _, query in live:
        searches += [{"index": index}, {"size": 10000, "_source": False, "query": {
            "bool": {"filter": [query, {"term": {"batch": batch}}]}}}]
    responses: list[dict[str, Any]] = []
    for start in range(0, len(searches), 1000):
        responses += opensearch.msearch(body=searches[start:start + 1000])["responses"]
    for (target, field, mode, value, query), response in zip(live, responses, strict=True):
        if "error" in response:
            failures.append((target, field, mode, value, query, response["error"]))
            continue
        hits = {hit["_id"].split("/", 1)[1] for hit in response["hits"]["hits"]}
        if hits != expected(mode, value):
            failures.append((target, field, mode, value, query, sorted(hits ^ expected(mode, value))))
    # Python evaluators (eql package, ES|QL subset): a sample of values, each against all documents.
    sampled = {target: set(values[:size]) for target, size in samples.items()}
    eql_docs = {doc_id: dict.fromkeys(FIELDS, text) for doc_id, text in docs.items()}
    for target, field, mode, value, query in checks:
        if target in EVALUATORS and value in sampled[target]:
            hits = EVALUATORS[target](query, eql_docs)
            if hits != expected(mode, value):
                failures.append((target, field, mode, value, query, sorted(hits ^ expected(mode, value))))
    return failures


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_reserved_characters_match_exactly(opensearch: OpenSearch, fuzz_index: str, data: st.DataObject) -> None:
    values = data.draw(st.lists(st.text(ALPHABET, min_size=1, max_size=12), min_size=BATCH, max_size=BATCH,
                                unique=True), label="values")
    swaps = data.draw(st.lists(st.booleans(), min_size=BATCH, max_size=BATCH), label="swaps")
    failures = check_batch(opensearch, fuzz_index, f"b{next(counter)}", values, swaps, SAMPLES)
    assert not failures, "\n".join(map(repr, failures[:10]))
