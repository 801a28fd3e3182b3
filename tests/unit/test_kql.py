"""es_kql: exact output, errors where KQL cannot say a Sigma value, and every output parsed with
Kibana's grammar (tests/kql_kibana.py) back to the intended values."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sigma.collection import SigmaCollection
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import SetStateTransformation

from sigma_es_backend.backends import KqlBackend, escaping
from sigma_es_backend.backends.common import FIELD_CAPABILITIES_STATE, FieldCapabilities
from sigma_es_backend.backends.kql import CaseApproximationWarning
from sigma_es_backend.backends.pattern import Pattern, Wildcard
from sigma_es_backend.pipelines import ecs_pipeline
from tests.conftest import convert
from tests.kql_kibana import (
    JS_WHITESPACE,
    WILDCARD_SYMBOL,
    Function,
    KqlSyntaxError,
    Literal,
    WildcardValue,
    parse,
    to_dsl,
)

RAW = ProcessingPipeline()


def rule(detection: str, logsource: str = "category: test_category\n    product: test_product") -> str:
    return f"""
title: Test
status: test
logsource:
    {logsource}
detection:
{detection}
"""


SEL = "    sel:\n        {}\n    condition: sel"
PROCESS = "category: process_creation\n    product: windows"


def kql(detection_item: str, pipeline=RAW, **options) -> str:
    backend = KqlBackend(processing_pipeline=pipeline, **options)
    (query,) = backend.convert(SigmaCollection.from_yaml(rule(SEL.format(detection_item))))
    return query


# --- output -------------------------------------------------------------------------------------
@pytest.mark.parametrize("item,expected", [
    ("a|cased: 'A b:c'", 'a: "A b:c"'),
    ("a|cased|contains: 'x(y)'", "a: *x\\(y\\)*"),
    ("a|cased|endswith: '\\x\\*'", "a: *\\\\x\\*"),  # Sigma: literal backslash, x, literal star
    ("a: '1.2'", 'a: "1.2"'),
    ("a: ''", 'a: ""'),
    ("a|cased: 'say \"hi\"\\'", 'a: "say \\"hi\\"\\\\"'),
    ("a|exists: true", "a: *"),
    ("a: null", "not a: *"),
    ("a|gte: 5", "a >= 5"),
    ("a: 5", 'a: "5"'),
    ("a|cidr: '10.1.0.4/30'", 'a: ("10.1.0.4" or "10.1.0.5" or "10.1.0.6" or "10.1.0.7")'),
    ("a|cidr: '10.1.0.9/32'", 'a: "10.1.0.9"'),
    ("a: 'x1'", 'a: ("X1" or "x1")'),  # no lowercase subfield: every case spelling
])
def test_kql_output(item: str, expected: str) -> None:
    assert kql(item) == expected


def test_caseless_subfield_takes_the_lowercased_value() -> None:
    (query,) = convert(rule(SEL.format("Image|endswith: '\\WmiPrvSE.exe'"), PROCESS), "es_kql")
    assert query.split(" and ")[-1] == "process.executable.caseless: *\\\\wmiprvse.exe"


def test_ip_field_cidr_and_numeric_field() -> None:
    detection = "    sel:\n        DestinationIp|cidr: '10.0.0.0/8'\n        DestinationPort: 443\n    condition: sel"
    (query,) = convert(rule(detection, "category: network_connection\n    product: windows"), "es_kql")
    assert query.endswith('destination.ip: "10.0.0.0/8" and destination.port: 443')


def test_negation_is_grouped_and_matches_missing_fields() -> None:
    detection = "    sel:\n        a|cased: x\n    f:\n        b: null\n    condition: sel and not f"
    query = convert(rule(detection), "es_kql", pipeline=RAW)[0]
    assert query == 'a: "x" and not (not b: *)'
    # Kibana: not → bool.must_not, so an event without the field matches `not field: value` (Sigma)
    assert to_dsl(parse("not a: x")) == {"bool": {"must_not": {"bool": {
        "should": [{"match": {"a": "x"}}], "minimum_should_match": 1}}}}


# --- errors: what KQL cannot say ------------------------------------------------------------------
@pytest.mark.parametrize("item,message", [
    ("a|cased: 'a?b*'", "single-character wildcard '\\?' has no KQL equivalent"),
    ("a|cased|contains: ' -enc '", "whitespace ' ' in a wildcard value"),
    ("a|cased|startswith: '\u00a0x'", "Kibana trims unquoted KQL values"),
    ("a|re: 'x.*'", "KQL has no regular expressions"),
    ("a|fieldref: b", "KQL cannot compare two fields"),
    ("a|cidr: '10.0.0.0/21'", "cidr 10.0.0.0/21 on keyword field 'a'.*at most 1024 addresses"),
    ("a: 'powershell'", "case-insensitive match of 'powershell' on field 'a'.*1024 case spellings"),
])
def test_inexpressible_values_fail_naming_field_and_value(item: str, message: str) -> None:
    with pytest.raises(Exception, match=message):
        kql(item)


def test_text_field_fails() -> None:
    text_field = ProcessingPipeline([ProcessingItem(SetStateTransformation(
        FIELD_CAPABILITIES_STATE, {"t": FieldCapabilities("match_only_text")}))])
    with pytest.raises(Exception, match="field 't' is an analyzed text field"):
        kql("t|cased|contains: x", text_field)


def test_case_approximation_is_opt_in_and_warns_per_rule() -> None:
    with pytest.warns(CaseApproximationWarning, match=r"rule 'Test'.*'\*powershell\*' on field 'a'"):
        assert kql("a|contains: 'powershell'", case_approximation="true") == "a: *powershell*"


def test_case_variants_limit_is_an_option() -> None:
    assert kql("a: 'ab'", case_variants="4") == 'a: ("AB" or "Ab" or "aB" or "ab")'
    with pytest.raises(Exception, match="4 case spellings \\(limit case_variants=2\\)"):
        kql("a: 'ab'", case_variants="2")


def test_seed_rule_fails_on_the_ecs_mapping_naming_the_parent_image() -> None:
    seed = open(__import__("tests.conftest", fromlist=["SHARED"]).SHARED / "docs" / "seed-rule.yml").read()
    with pytest.raises(Exception, match=r"'\*\\WmiPrvSe.exe' on field 'process.parent.executable'"):
        convert(seed, "es_kql")


# --- Discover saved objects ---------------------------------------------------------------------
def test_discover_ndjson_uses_the_data_source_index_patterns() -> None:
    item = "    sel:\n        Image|endswith: '\\cmd.exe'\n    condition: sel"
    ndjson = KqlBackend(ecs_pipeline()).convert(SigmaCollection.from_yaml(rule(item, PROCESS)), "discover_ndjson")
    view, search = (json.loads(line) for line in ndjson.splitlines())
    assert view["type"] == "index-pattern"
    assert view["attributes"]["title"] == ("logs-windows.sysmon_operational-*,logs-system.security-*,"
                                           "logs-windows.forwarded-*,winlogbeat-*")
    assert search["references"] == [{"name": "kibanaSavedObjectMeta.searchSourceJSON.index",
                                     "type": "index-pattern", "id": view["id"]}]
    source = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert source["query"] == {"language": "kuery", "query": convert(rule(item, PROCESS), "es_kql")[0]}


def test_discover_ndjson_shares_one_data_view_between_rules() -> None:
    two = rule(SEL.format("Image|endswith: '\\a.exe'"), PROCESS) + "---\n" + rule(
        SEL.format("Image|endswith: '\\b.exe'"), PROCESS).replace("title: Test", "title: Other")
    ndjson = KqlBackend(ecs_pipeline()).convert(SigmaCollection.from_yaml(two), "discover_ndjson")
    types = [json.loads(line)["type"] for line in ndjson.splitlines()]
    assert types == ["index-pattern", "search", "search"]


# --- the grammar round trip: what Kibana reads is what we meant ---------------------------------
RESERVED_HEAVY = st.lists(st.sampled_from(list('\\():<>"*{}?-+=&|!^~[]/ \t\n\r\u00a0\u3000aZé𝔘')
                                          + ["or", "and", "not", "OR", " and ", " or ", "not "]),
                          max_size=8).map("".join)


@given(RESERVED_HEAVY)
def test_quoted_values_parse_back_to_the_same_text(text: str) -> None:
    assert parse("f: " + escaping.kql_quoted(text)) == Function("is", (Literal("f"), Literal(text, quoted=True)))


@given(st.lists(st.one_of(RESERVED_HEAVY, st.just(Wildcard.MULTI)), min_size=1, max_size=6))
def test_wildcard_values_parse_back_to_the_same_pattern(parts: list) -> None:
    pattern = Pattern(())
    for part in parts:
        pattern = pattern + (Pattern((part,)) if part is Wildcard.MULTI else Pattern.literal(part))
    if not pattern.has_wildcards:
        return
    first, last = pattern.parts[0], pattern.parts[-1]
    inexpressible = any(c in " \t\n\r\u3000" for c in pattern.text) or (
        isinstance(first, str) and first[0] in JS_WHITESPACE) or (isinstance(last, str) and last[-1] in JS_WHITESPACE)
    if inexpressible:
        with pytest.raises(escaping.KqlValueError):
            escaping.kql_wildcard(pattern)
        return
    value = escaping.kql_wildcard(pattern)
    expected = "".join(WILDCARD_SYMBOL if p is Wildcard.MULTI else p for p in pattern.parts)
    parsed = parse(f"f: {value} and g: x")
    assert parsed.args[0] == Function("is", (Literal("f"), WildcardValue(expected)))


def test_kibana_grammar_rejects_what_it_should() -> None:
    for bad in ("not not a: b", "a: (b", "a: \"x", "a: b)"):
        with pytest.raises(KqlSyntaxError):
            parse(bad)
    assert parse("a: b or c: d and not e: *").name == "or"


def test_unescaped_whitespace_would_split_kibanas_query_string_term() -> None:
    # Why whitespace in wildcard values is an error: Kibana's query_string term keeps the raw space.
    dsl = to_dsl(parse("f: *a\\u0020b*"))
    assert dsl["bool"]["should"][0] == {"query_string": {"fields": ["f"], "query": "*a b*"}}





# --- Kibana detection rule (the backend-agnostic builder in sigma_es_backend.outputs) -------------
def test_kibana_rule_is_a_kuery_query_rule_on_the_data_source_indices() -> None:
    item = "    sel:\n        Image|endswith: '\\cmd.exe'\n    condition: sel"
    text = rule(item, PROCESS).replace("title: Test", "title: Test\nid: 5b9d9c6e-7e0f-4a55-9c7e-0d6f7e4b1a11")
    (body,) = KqlBackend(ecs_pipeline()).convert(SigmaCollection.from_yaml(text), "kibana_rule")
    kibana_rule = json.loads(body)
    assert (kibana_rule["type"], kibana_rule["language"]) == ("query", "kuery")
    assert kibana_rule["query"] == convert(text, "es_kql")[0]
    assert kibana_rule["index"] == ["logs-windows.sysmon_operational-*", "logs-system.security-*",
                                    "logs-windows.forwarded-*", "winlogbeat-*"]
    (line,) = KqlBackend(ecs_pipeline()).convert(SigmaCollection.from_yaml(text), "kibana_ndjson")
    assert json.loads(line) == kibana_rule
