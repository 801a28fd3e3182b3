"""Backend semantics on small inline rules: exact output per language."""

from __future__ import annotations

import json

import pytest
from sigma.processing.pipeline import ProcessingPipeline

from tests.conftest import convert

RAW = ProcessingPipeline()  # no field mapping: field names as written, all fields plain keywords


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


@pytest.mark.parametrize("value,lucene", [
    ("'a b'", "fieldA:/[Aa]\\ [Bb]/".replace("\\ ", " ")),
    # Sigma: "\\W" is a literal backslash + W, "\\*" a literal star
    ("'C:\\Windows\\*'", "fieldA:/[Cc]:\\\\[Ww][Ii][Nn][Dd][Oo][Ww][Ss]\\*/"),
    ("'C:\\Windows\\\\*'", "fieldA:/[Cc]:\\\\[Ww][Ii][Nn][Dd][Oo][Ww][Ss]\\\\.*/"),
    ("'1.2'", "fieldA:1.2"),
    ("'x+y(z)'", "fieldA:/[Xx]\\+[Yy]\\([Zz]\\)/"),
    ("''", 'fieldA:""'),
    ("'a/b'", "fieldA:/[Aa]\\/[Bb]/"),
])
def test_lucene_case_insensitive_regexp_when_no_caseless_subfield(value: str, lucene: str) -> None:
    assert convert(rule(SEL.format(f"fieldA: {value}")), "es_lucene", pipeline=RAW) == [lucene]


def test_lucene_cased_uses_plain_term_with_escaping() -> None:
    assert convert(rule(SEL.format("fieldA|cased: 'A B:c\\*d*'")), "es_lucene", pipeline=RAW) == [
        "fieldA:A\\ B\\:c\\*d*"
    ]


def test_lucene_negation_is_match_all_minus() -> None:
    detection = "    sel:\n        fieldA: '1'\n    filter:\n        fieldB: '2'\n    condition: sel or not filter"
    assert convert(rule(detection), "es_lucene", pipeline=RAW) == ["fieldA:1 OR ((*:* AND NOT (fieldB:2)))"]


def test_dsl_case_insensitive_term_prefix_wildcard() -> None:
    detection = "    sel:\n        a: 'Foo'\n        b|startswith: 'Bar'\n        c|contains: 'x\\*y\\?z'\n    condition: sel"
    (body,) = convert(rule(detection), "es_dsl", pipeline=RAW)
    assert json.loads(body) == {"query": {"bool": {"filter": [
        {"term": {"a": {"value": "Foo", "case_insensitive": True}}},
        {"prefix": {"b": {"value": "Bar", "case_insensitive": True}}},
        {"wildcard": {"c": {"value": "*x\\*y\\?z*", "case_insensitive": True}}},
    ]}}}


def test_dsl_null_and_exists() -> None:
    detection = "    sel:\n        a: null\n        b|exists: true\n    condition: sel"
    (body,) = convert(rule(detection), "es_dsl", "query", pipeline=RAW)
    assert json.loads(body) == {"bool": {"filter": [
        {"bool": {"must_not": [{"exists": {"field": "a"}}]}}, {"exists": {"field": "b"}},
    ]}}


def test_eql_literal_star_falls_back_to_regex() -> None:
    (query,) = convert(rule(SEL.format("a|contains: 'x*y'")), "es_eql", pipeline=RAW)
    assert query == 'any where a like~ "*x*y*"' or query == 'any where a regex~ ".*x\\\\*y.*"'
    # the escaped star is a literal star: it must not become a wildcard
    (query,) = convert(rule(SEL.format("a|contains: 'x\\*y'")), "es_eql", pipeline=RAW)
    assert query == 'any where a regex~ ".*x\\\\*y.*"'


def test_esql_like_escapes_literal_wildcards() -> None:
    (query,) = convert(rule(SEL.format("a|endswith: 'X\\?'")), "es_esql", pipeline=RAW)
    assert query == 'FROM logs-* METADATA _id, _index, _version | WHERE TO_LOWER(a) LIKE "*x\\\\?"'


@pytest.mark.parametrize("target", ["es_lucene", "es_dsl", "es_eql", "es_esql"])
def test_untranslatable_regex_fails_naming_the_construct(target: str) -> None:
    # \b (word boundary) is valid for pySigma 1.x and 2.x (RE2) but Lucene RegExp has no equivalent
    with pytest.raises(Exception, match=r"the escape '\\b' has no Lucene equivalent"):
        convert(rule(SEL.format("a|re: 'foo\\bbar'")), target, pipeline=RAW)


@pytest.mark.parametrize("target", ["es_lucene", "es_dsl", "es_eql", "es_esql"])
def test_unmapped_field_fails_naming_field_and_data_source(target: str) -> None:
    with pytest.raises(Exception, match=r"rule 'Test': field 'NoSuchField' has no ECS mapping for data source "
                                        r"'windows_process_creation' \(log source windows/process_creation\)"):
        convert(rule(SEL.format("NoSuchField: x"), "category: process_creation\n    product: windows"), target)


def test_unknown_logsource_fails_naming_it() -> None:
    with pytest.raises(Exception, match=r"log source \{product: foo, category: bar\} has no ECS data source"):
        convert(rule(SEL.format("a: x"), "category: bar\n    product: foo"), "es_lucene")


def test_keyword_cidr_is_an_exact_dotted_quad_regexp() -> None:
    # not 10.1.0.*: that would match 10.1.0.256 or 10.1.0.5.example
    (query,) = convert(rule(SEL.format("a|cidr: '10.1.0.0/23'")), "es_lucene", pipeline=RAW)
    assert query == "a:/10\\.1\\.(0|1)\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/"


def test_sysmon_user_equality_splits_into_domain_and_name() -> None:
    detection = "    sel:\n        User: 'NT AUTHORITY\\SYSTEM'\n    condition: sel"
    (body,) = convert(rule(detection, "category: process_creation\n    product: windows"), "es_dsl", "query")
    user_clause = json.loads(body)["bool"]["filter"][1]
    assert user_clause == {"bool": {"filter": [
        {"term": {"user.domain": {"value": "NT AUTHORITY", "case_insensitive": True}}},
        {"term": {"user.name": {"value": "SYSTEM", "case_insensitive": True}}},
    ]}}


def test_sysmon_hashes_go_to_their_algorithm_field() -> None:
    detection = "    sel:\n        Hashes|contains: 'SHA256=ABCDEF'\n    condition: sel"
    (query,) = convert(rule(detection, "category: process_creation\n    product: windows"), "es_lucene")
    assert query.endswith("AND process.hash.sha256:/[Aa][Bb][Cc][Dd][Ee][Ff]/")


def test_fieldref_to_an_unmapped_field_fails_naming_it() -> None:
    detection = "    sel:\n        Image|fieldref: NoSuchField\n    condition: sel"
    with pytest.raises(Exception, match="field 'NoSuchField' has no ECS mapping"):
        convert(rule(detection, "category: process_creation\n    product: windows"), "es_dsl")


PS_SCRIPT = "category: ps_script\n    product: windows"
SCRIPT_BLOCK = SEL.format("ScriptBlockText|contains: 'Invoke-Mimikatz'")


def test_esql_matches_the_whole_value_of_the_script_block_text_field() -> None:
    # powershell.file.script_block_text is an analyzed text field: ES|QL reads its whole value
    (query,) = convert(rule(SCRIPT_BLOCK, PS_SCRIPT), "es_esql")
    assert 'TO_LOWER(powershell.file.script_block_text) LIKE "*invoke-mimikatz*"' in query


@pytest.mark.parametrize("target", ["es_lucene", "es_dsl", "es_eql", "es_kql"])
def test_other_languages_refuse_the_script_block_text_field(target: str) -> None:
    with pytest.raises(Exception, match="'powershell.file.script_block_text' is an analyzed text field"):
        convert(rule(SCRIPT_BLOCK, PS_SCRIPT), target)


@pytest.mark.parametrize(("sigma_regexp", "lucene"), [
    # PCRE's \s (and Python's) is [ \t\n\r\f\v]; Lucene's \s lacks \f and \v, so the class is spelled out
    (r"a\sb", ".*a[ \t\n\r\f\x0b]b.*"),
    (r"a\Sb", ".*a[^ \t\n\r\f\x0b]b.*"),
    (r"a[\s,]b", ".*a[ \t\n\r\f\x0b,]b.*"),
    (r"\d\w", ".*\\d\\w.*"),  # these Lucene shorthands equal PCRE's (ASCII)
])
def test_regex_whitespace_shorthand_is_pcre_whitespace(sigma_regexp: str, lucene: str) -> None:
    from sigma_es_backend.backends import regex
    assert regex.translate(sigma_regexp) == lucene
