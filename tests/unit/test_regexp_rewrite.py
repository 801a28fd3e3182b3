"""Equivalent regexps for the ones Lucene cannot determinize (backends/regexp_rewrite.py).

The rewritten regexp must match exactly the values in which Python's `re.search` finds the Sigma regexp
(checked on values made of the pieces that matter, and on random ones built from them), and Lucene must
determinize it within the default limit (the replay; tests/live/test_regexp_complexity_live.py sends the
corpus's rewrites to OpenSearch, test_regexp_rewrite_live.py searches with them).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sigma.processing.pipeline import ProcessingPipeline

from sigma_es_backend.backends import automaton, regex, regexp_rewrite
from tests.conftest import convert, inline_rule

# The three SigmaHQ regexps Lucene cannot determinize as written (rules wsass, dtrack, abnormal command line size).
WSASS = r"""(?i)\.exe["']?\s+[^"]{0,64}werfaultsecure\.exe["']?\s+\d{2,10}"""
DTRACK = r"ping\s+-n[^\n]{6,64}echo EEEE\s?\>\s?"
LONG_LINE = r".{1000,}"

PIECES = {
    WSASS: [".exe", ".EXE", ".ex", ".", "e", '"', "'", " ", "  ", "\t", "werfaultsecure.exe", "WerFaultSecure.Exe",
            "werfault", "12", "4", "a", "x", "x" * 16, "x" * 32, "\\", "\n"],
    DTRACK: ["ping", "ping ", " ", "\t", "-n", "-n 3", "p", "i", "n", "g", "x", "x" * 16, "x" * 32, "echo EEEE", "echo EEE",
             ">", " >", "\n"],
    LONG_LINE: ["a" * 100, "a" * 333, "b", "\n", " ", "x" * 7],
}


@lru_cache
def dfa_of(regexp: str) -> automaton._Automaton:
    dfa = automaton.dfa(regexp)
    assert dfa is not None
    return dfa


def lucene_matches(regexp: str, value: str) -> bool:
    """Whether the Lucene RegExp matches the whole value (walked on its minimal DFA)."""
    dfa = dfa_of(regexp)
    state = 0
    for char in value:
        code = ord(char)
        state = next((dest for lo, hi, dest in dfa.transitions[state] if lo <= code <= hi), -1)
        if state < 0:
            return False
    return dfa.accept[state]


def rewritten(sigma_regexp: str) -> tuple[str, str]:
    translated = regex.translate(sigma_regexp, escape_delimiter=False)
    equivalent = regexp_rewrite.lucene_equivalent(translated)
    assert equivalent is not None
    return translated, equivalent


@pytest.mark.parametrize("sigma_regexp", [WSASS, DTRACK, LONG_LINE])
def test_rewrite_is_what_lucene_can_build_and_the_original_is_not(sigma_regexp: str) -> None:
    translated, equivalent = rewritten(sigma_regexp)
    assert not automaton.regexp_complexity(translated).fits()
    assert automaton.regexp_complexity(equivalent).fits()


@pytest.mark.parametrize(("value", "found"), [
    ('wsass.exe "C:\\x\\WerFaultSecure.exe" 1234', False),   # a quote inside the gap
    ("wsass.exe  C:\\x\\WerFaultSecure.exe 12", True),
    ("a.exe b.exe x werfaultsecure.exe 12", True),          # the last trigger starts the gap
    ("a.exe b.exefoo werfaultsecure.exe 12", True),         # .exe without whitespace is no trigger
    ("a.exe " + "x" * 64 + "werfaultsecure.exe 12", True),  # a gap of 64
    ("a.exe " + "x" * 65 + "werfaultsecure.exe 12", False),
    ("a.exe " + "x" * 60 + " b.exe werfaultsecure.exe 12", True),
    ("a.exe' werfaultsecure.exe' 9", False),                # one digit
    ("A.EXE\t\tWERFAULTSECURE.EXE\t42", True),
])
def test_wsass_rewrite_on_examples(value: str, found: bool) -> None:
    assert bool(re.search(WSASS, value)) is found
    assert lucene_matches(rewritten(WSASS)[1], value) is found


@pytest.mark.parametrize("sigma_regexp", [WSASS, DTRACK, LONG_LINE])
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_rewrite_matches_exactly_what_the_sigma_regexp_finds(sigma_regexp: str, data: st.DataObject) -> None:
    value = "".join(data.draw(st.lists(st.sampled_from(PIECES[sigma_regexp]), max_size=30)))
    assert lucene_matches(rewritten(sigma_regexp)[1], value) is bool(re.search(sigma_regexp, value))


def test_the_check_refuses_a_narrower_candidate() -> None:
    # the rewrite is used only when the original's automaton is included in the candidate's
    wide, narrow = ".*ab.*", ".*abc.*"
    assert not automaton.included(automaton.concatenation_nfa(wide), automaton.dfa(narrow))
    assert automaton.included(automaton.concatenation_nfa(narrow), automaton.dfa(wide))


@pytest.mark.parametrize("regexp", [
    ".*[Ee][^\n]{13}.*",        # a fixed-length gap: no last trigger to take it from
    ".*(ab|cd)[^\n]{0,64}x.*",  # the trigger is no sequence of one-character atoms
    "a|b",                      # no leading .*
])
def test_no_rewrite_for_other_shapes(regexp: str) -> None:
    assert regexp_rewrite.lucene_equivalent(regexp) is None


def test_rule_converts_with_the_equivalent_regexp() -> None:
    rule = inline_rule(yaml.safe_load(f"CommandLine|re: '{WSASS.replace(chr(39), chr(39) * 2)}'"), title="wsass")
    (lucene_query,) = convert(rule, "es_lucene", pipeline=ProcessingPipeline())
    delimited = regexp_rewrite.lucene_equivalent(regex.translate(WSASS, escape_delimiter=True))
    assert lucene_query == f"CommandLine:/{delimited}/"
    (dsl_query,) = convert(rule, "es_dsl", pipeline=ProcessingPipeline())
    assert json.loads(dsl_query)["query"] == {"regexp": {"CommandLine": {"value": rewritten(WSASS)[1], "flags": "ALL"}}}


def test_classes_are_written_as_lucene_reads_them() -> None:
    # `\\` is a whole class member in Lucene (never a range start), `-` only a range inside a class: every
    # set of the code points around them is written, and read back as the same set
    codes = [ord(c) for c in "!*,-.[\\]^_a"]
    for mask in range(1, 1 << len(codes)):
        members = sorted(code for i, code in enumerate(codes) if mask >> i & 1)
        intervals: list[tuple[int, int]] = []
        for code in members:
            if intervals and intervals[-1][1] == code - 1:
                intervals[-1] = (intervals[-1][0], code)
            else:
                intervals.append((code, code))
        chars = tuple(intervals)
        for form in (chars, regexp_rewrite._complement(chars)):
            text = regexp_rewrite._class(form)
            assert text is not None and automaton.char_set(text) == form, (form, text)


def test_gap_class_with_backslash_and_bracket_is_not_widened() -> None:
    # review finding: `[^…\\-\^]` read by Lucene as `\`, `-`, `^` (not the range) widened the gap to `]`
    sigma_regexp = r"(?i)\.exe\s+[^\-\\\]^]{0,64}werfault"
    translated, equivalent = rewritten(sigma_regexp)
    for value in (".exe x]x werfault", ".exe x^x werfault", ".exe x\\x werfault", ".exe xyx werfault"):
        assert lucene_matches(equivalent, value) is bool(re.search(sigma_regexp, value)), value
