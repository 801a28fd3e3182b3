"""es_kql on a real OpenSearch: every query parsed with Kibana's grammar, translated to Query DSL the way
Kibana does (tests/kql_kibana.py), run on indices with production ECS types; exactly the right events.

Two Kibana translations are run: the detection engine's (no field types: wildcard values become
query_string terms, quoted values match_phrase) and a Discover data view's (keyword fields get
`wildcard`/`term` queries).

On `wildcard`-typed fields the harness bridges one OpenSearch/Elasticsearch difference (shown below;
see tests/live/kql_harness.py).
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

import pytest
from sigma.collection import SigmaCollection
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import SetStateTransformation

from sigma_es_backend.backends import KqlBackend
from sigma_es_backend.backends.common import FIELD_CAPABILITIES_STATE, FieldCapabilities
from sigma_es_backend.backends.kql import CaseApproximationWarning
from sigma_es_backend.events.templates import ecs_index_body
from sigma_es_backend.pipelines import default_mapping_set, ecs_pipeline
from tests.live.conftest import search_ids
from tests.live.kql_harness import MODES, NotEvaluableOnOpenSearch, kql_ids
from tests.seed_events import SEED_EVENTS, SEED_EXPECTED_MATCHES, process_start

pytestmark = pytest.mark.live

def kql_of(rule_yaml: str, pipeline: ProcessingPipeline | None = None, **options: str) -> str:
    (query,) = KqlBackend(pipeline if pipeline is not None else ecs_pipeline(), **options).convert(
        SigmaCollection.from_yaml(rule_yaml))
    return query


# --- the engine difference, shown --------------------------------------------------------------
def test_opensearch_wildcard_field_misreads_escaped_ordinary_characters(opensearch, live_index_name) -> None:
    # On a real wildcard-typed field (the bundled OpenSearch template maps ECS wildcard fields as keyword).
    index = live_index_name("kql-wildcard-type")
    opensearch.indices.create(index=index, body={"mappings": {"properties": {
        "process": {"properties": {"command_line": {"type": "wildcard"}}}}}})
    try:
        opensearch.index(index=index, id="a", body={"process": {"command_line": "cmd /c echo -enc x"}}, refresh=True)
        assert search_ids(opensearch, index,
                          {"query": {"wildcard": {"process.command_line": {"value": "*\\-enc*"}}}}) == set()
        assert search_ids(opensearch, index,
                          {"query": {"wildcard": {"process.command_line": {"value": "*-enc*"}}}}) == {"a"}
    finally:
        opensearch.indices.delete(index=index, ignore_unavailable=True)


# --- the seed rule --------------------------------------------------------------------------------
# Elastic Defend indexes lowercase subfields on more process and user fields than the windows
# integration: with them the seed rule is exact in KQL.
DEFEND_CASELESS = {f: FieldCapabilities("keyword", f + ".caseless")
                   for f in ("process.parent.executable", "user.domain", "user.name")}


def with_capabilities(extra: dict[str, FieldCapabilities]) -> tuple[ProcessingPipeline, dict]:
    caps = {**default_mapping_set().field_capabilities, **extra}
    overlay = ProcessingPipeline([ProcessingItem(SetStateTransformation(FIELD_CAPABILITIES_STATE, caps))],
                                 priority=90)
    return ecs_pipeline() + overlay, caps


@pytest.fixture
def defend_seed_index(opensearch, shared_dir, live_index_name) -> Any:
    _, caps = with_capabilities(DEFEND_CASELESS)
    name = live_index_name("kql-seed-defend")
    opensearch.indices.create(index=name, body=ecs_index_body(shared_dir / "ecs", caps))
    for doc_id, (doc, _) in SEED_EVENTS.items():
        opensearch.index(index=name, id=doc_id, body=doc)
    opensearch.indices.refresh(index=name)
    yield name
    opensearch.indices.delete(index=name, ignore_unavailable=True)


@pytest.mark.parametrize("mode", MODES)
def test_seed_rule_exact_with_lowercase_subfields(opensearch, defend_seed_index, seed_rule_yaml, mode) -> None:
    pipeline, _ = with_capabilities(DEFEND_CASELESS)
    query = kql_of(seed_rule_yaml, pipeline)
    assert "process.parent.executable.caseless: *\\\\wmiprvse.exe" in query
    assert kql_ids(opensearch, defend_seed_index, query, mode) == SEED_EXPECTED_MATCHES


@pytest.mark.parametrize("mode", MODES)
def test_seed_rule_case_approximation_misses_every_match(opensearch, ecs_index, seed_rule_yaml,
                                                                       mode) -> None:
    index = ecs_index({doc_id: doc for doc_id, (doc, _) in SEED_EVENTS.items()})
    with pytest.warns(CaseApproximationWarning):
        query = kql_of(seed_rule_yaml, case_approximation="true")
    hits = kql_ids(opensearch, index, query, mode)
    # The price of the opt-in, pinned: the rule says '\WmiPrvSe.exe', Windows writes 'WmiPrvSE.exe',
    # so the case-sensitive query misses every event Sigma matches.
    assert SEED_EXPECTED_MATCHES and hits == set()


# --- features -------------------------------------------------------------------------------------
def _doc(doc_id: str, **fields: Any) -> dict[str, Any]:
    doc = process_start(doc_id)
    for dotted, value in fields.items():
        node = doc
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return doc


FEATURE_DOCS = {
    "a": _doc("a", process__command_line="C:\\x\\a.exe -p:(1) \"q\" *lit*", process__pid=10,
              source={"ip": "10.1.2.3"}, winlog__event_data__Code="AbC"),
    "b": _doc("b", process__command_line="c:\\X\\A.EXE -P:(1)", process__pid=20, source={"ip": "192.168.1.1"},
              winlog__event_data__Code="abc", winlog__event_data__Empty=""),
    "c": _doc("c", process__executable="D:\\Tools\\CMD.EXE", process__pid=30, winlog__event_data__Code="x.y"),
}
@pytest.fixture(scope="module")
def feature_index(opensearch, shared_dir, live_index_name) -> Any:
    name = live_index_name("kql-features")
    opensearch.indices.create(index=name, body=ecs_index_body(shared_dir / "ecs",
                                                              default_mapping_set().field_capabilities))
    for doc_id, doc in FEATURE_DOCS.items():
        opensearch.index(index=name, id=doc_id, body=doc)
    opensearch.indices.refresh(index=name)
    yield name
    opensearch.indices.delete(index=name, ignore_unavailable=True)


def raw_rule(condition: str, **items: str) -> str:
    detection = "\n".join(f"    {name}:\n        {item}" for name, item in items.items())
    return f"title: Feature\nlogsource: {{category: test}}\ndetection:\n{detection}\n    condition: {condition}\n"


RAW_CAPS = ProcessingPipeline([ProcessingItem(SetStateTransformation(
    FIELD_CAPABILITIES_STATE, dict(default_mapping_set().field_capabilities)))])

RAW_FEATURES = [
    ("case spellings on a plain keyword", "sel", {"sel": "winlog.event_data.Code: 'abc'"}, {"a", "b"}),
    ("cased on a plain keyword", "sel", {"sel": "winlog.event_data.Code|cased: 'abc'"}, {"b"}),
    ("contains, no letters", "sel", {"sel": "winlog.event_data.Code|contains: '.'"}, {"c"}),
    ("not matches events without the field", "not sel", {"sel": "winlog.event_data.Empty|cased: ''"},
     {"a", "c"}),
    ("empty string", "sel", {"sel": "winlog.event_data.Empty: ''"}, {"b"}),
    ("null", "sel", {"sel": "winlog.event_data.Empty: null"}, {"a", "c"}),
    ("exists", "sel", {"sel": "winlog.event_data.Empty|exists: true"}, {"b"}),
    ("range", "sel", {"sel": "process.pid|lt: 20"}, {"a"}),
    ("cidr on an ip field", "sel", {"sel": "source.ip|cidr: '10.0.0.0/8'"}, {"a"}),
    ("nested not/and/or", "sel and not (f1 or f2)",
     {"sel": "process.pid|gte: 10", "f1": "source.ip|cidr: '192.168.0.0/16'", "f2": "process.pid: 30"}, {"a"}),
    ("wildcard on a wildcard field, caseless via spellings", "sel",
     {"sel": "process.command_line|contains: '-p:'"}, {"a", "b"}),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,condition,items,expected", RAW_FEATURES, ids=[f[0] for f in RAW_FEATURES])
def test_feature(opensearch, feature_index, mode, name, condition, items, expected) -> None:
    query = kql_of(raw_rule(condition, **items), RAW_CAPS)
    assert kql_ids(opensearch, feature_index, query, mode) == expected, query


# --- escaping: random values full of reserved characters ----------------------------------------
ALPHABET = list('\\():<>"*{}?-+=&|!^~[]/@#.,;\'%$ _\t\u00a0aZ9é') + ["or", "and", "not", " and ", " or ", "not "]
MODIFIERS = {"": lambda v, d: d == v, "|contains": lambda v, d: v in d,
             "|startswith": lambda v, d: d.startswith(v), "|endswith": lambda v, d: d.endswith(v)}


def _sigma_literal(value: str) -> str:
    return json.dumps("".join("\\" + c if c in "*?\\" else c for c in value))


@pytest.mark.parametrize("field", ["winlog.event_data.Payload", "process.command_line"])
def test_escaping_fuzz(opensearch, ecs_index, field) -> None:
    rng = random.Random(f"i10-{field}")
    count = int(os.environ.get("SIGMA_ES_KQL_FUZZ_VALUES", "40"))  # more for a nightly-size run
    values = sorted({"".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6))) for _ in range(count)})
    docs = {f"d{i}": _doc(f"d{i}", **{field.replace(".", "__"): v}) for i, v in enumerate(values)}
    index = ecs_index(docs)
    checked = 0
    for value in values:
        for modifier, matches in MODIFIERS.items():
            yaml = raw_rule("sel", sel=f"{field}|cased{modifier}: {_sigma_literal(value)}")
            inexpressible = modifier and (any(c in " \t" for c in value)
                                          or (modifier == "|startswith" and value[0] == "\u00a0")
                                          or (modifier == "|endswith" and value[-1] == "\u00a0"))
            if inexpressible:
                with pytest.raises(Exception, match="whitespace"):
                    kql_of(yaml, RAW_CAPS)
                continue
            query = kql_of(yaml, RAW_CAPS)
            expected = {i for i, v in zip(docs, values, strict=True) if matches(value, v)}
            try:
                for mode in MODES:
                    assert kql_ids(opensearch, index, query, mode) == expected, (value, modifier, query)
            except NotEvaluableOnOpenSearch:
                continue  # backslash before `*` on a wildcard field: OpenSearch cannot answer it
            checked += 1
    assert checked > len(values)
