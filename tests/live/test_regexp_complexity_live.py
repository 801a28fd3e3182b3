"""The determinization check is conservative: OpenSearch never rejects a regexp or wildcard the backends
let through.

Every regexp and wildcard automaton es_lucene and es_dsl check while converting the SigmaHQ rules is sent to
OpenSearch's `_validate/query` on a keyword field, exactly as the backend writes it (query_string term with
`lenient: false`, DSL `regexp` / `wildcard` clause). Whenever OpenSearch finds it too complex, the backend
must have refused it. Batches of clauses are validated at once and only a failing batch is split.

Default: windows/process_creation plus the rules known to hold such automata; automata far from the limit
(effort under 1 % of it by the replay, or by the proven bound of plain `*` patterns) are not sent.
SIGMA_ES_COMPLEXITY_CORPUS=all: every rule of rules, rules-emerging-threats and rules-threat-hunting, and
every automaton sent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import OpenSearch
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError

from sigma_es_backend.backends import automaton, backends, dsl, escaping, lucene
from sigma_es_backend.backends.common import query_string_query
from sigma_es_backend.backends.pattern import Pattern, Wildcard
from sigma_es_backend.pipelines import ecs_pipeline

FIELD = "f"
BATCH = 64
KNOWN_COMPLEX = (
    "rules/windows/process_creation/proc_creation_win_hktl_wsass.yml",
    "rules-threat-hunting/windows/process_creation",
    "rules-emerging-threats/2025/Malware/Shai-Hulud",
)


@dataclass(frozen=True)
class Automaton:
    """One regexp or wildcard value as a backend emitted it, and whether the backend refused it."""

    target: str
    kind: str  # regexp | wildcard
    value: str | Pattern
    case_insensitive: bool
    refused: bool
    rewritten: bool = False  # an equivalent the backend wrote for a regexp Lucene cannot determinize

    def effort(self) -> int:
        """The replay's effort (or the bound it is under) for this automaton."""
        if self.kind == "regexp":
            try:
                return automaton.regexp_complexity(self.value).effort
            except automaton.RegexpSyntaxError:
                return automaton.EFFORT_CAP
        bound = automaton.star_pattern_bound(self.value)
        return bound if bound is not None else automaton.wildcard_complexity(self.value, self.case_insensitive).effort

    def clause(self) -> dict[str, Any]:
        if self.target == "es_lucene":
            term = (escaping.lucene_regexp_term(self.value) if self.kind == "regexp"
                    else escaping.lucene_term(self.value))
            return query_string_query(f"{FIELD}:{term}")
        if self.kind == "regexp":
            return {"regexp": {FIELD: {"value": self.value, "flags": "ALL"}}}
        options = {"case_insensitive": True} if self.case_insensitive else {}
        return {"wildcard": {FIELD: {"value": escaping.dsl_wildcard(self.value), **options}}}


def rule_files(shared_dir: Path) -> list[Path]:
    sigma = shared_dir / "sigma"
    if os.environ.get("SIGMA_ES_COMPLEXITY_CORPUS") == "all":
        roots = [sigma / "rules", sigma / "rules-emerging-threats", sigma / "rules-threat-hunting"]
    else:
        roots = [sigma / "rules/windows/process_creation", *(sigma / p for p in KNOWN_COMPLEX)]
    files = {f for root in roots for f in ([root] if root.is_file() else root.rglob("*.yml"))}
    return sorted(files)


def recorded_automata(shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> set[Automaton]:
    """Convert the rules with both backends, recording every check_regexp / check_wildcard call."""
    seen: set[Automaton] = set()

    def recorder(module: Any, target: str) -> None:
        check_regexp, check_wildcard = module.check_regexp, module.check_wildcard

        def regexp(value: str, *args: Any, **kwargs: Any) -> str:
            try:
                emitted = check_regexp(value, *args, **kwargs)
            except SigmaError:
                seen.add(Automaton(target, "regexp", value, False, True))
                raise
            # a rewritten regexp (backends/regexp_rewrite.py) is what goes to the cluster: that one is checked
            seen.add(Automaton(target, "regexp", emitted, False, False, rewritten=emitted != value))
            return emitted

        def wildcard(pattern: Pattern, case_insensitive: bool, *args: Any, **kwargs: Any) -> None:
            try:
                check_wildcard(pattern, case_insensitive, *args, **kwargs)
            except SigmaError:
                seen.add(Automaton(target, "wildcard", pattern, case_insensitive, True))
                raise
            finally:
                seen.add(Automaton(target, "wildcard", pattern, case_insensitive, False))

        monkeypatch.setattr(module, "check_regexp", regexp)
        monkeypatch.setattr(module, "check_wildcard", wildcard)

    recorder(lucene, "es_lucene")
    recorder(dsl, "es_dsl")
    for target in ("es_lucene", "es_dsl"):
        backend = backends[target](processing_pipeline=ecs_pipeline(), collect_errors=True, engine="opensearch")
        for path in rule_files(shared_dir):
            try:
                backend.convert(SigmaCollection.from_yaml(path.read_text(encoding="utf-8")))
            except SigmaError:
                pass  # the rule's other errors are other tests' business
    # a refused automaton was also recorded as "not refused" by the finally clause: keep the refusal
    refused = {(a.target, a.kind, a.value, a.case_insensitive) for a in seen if a.refused}
    return {a for a in seen if a.refused or (a.target, a.kind, a.value, a.case_insensitive) not in refused}


def rejected(client: OpenSearch, index: str, items: list[Automaton]) -> Iterator[tuple[Automaton, str]]:
    """The items OpenSearch's _validate/query rejects (with its reason), bisecting failing batches."""
    if not items:
        return
    body = {"query": {"bool": {"should": [a.clause() for a in items]}}}
    response = client.indices.validate_query(index=index, body=body, explain=True)
    if response["valid"]:
        return
    if len(items) == 1:
        yield items[0], str(response.get("error", ""))
        return
    half = len(items) // 2
    yield from rejected(client, index, items[:half])
    yield from rejected(client, index, items[half:])


def test_backends_refuse_every_automaton_opensearch_rejects(opensearch: OpenSearch, live_index_name,
                                                             shared_dir: Path, monkeypatch) -> None:
    recorded = sorted(recorded_automata(shared_dir, monkeypatch), key=repr)
    assert recorded, "the backends emitted no regexp or wildcard: the recorder is broken"
    everything = os.environ.get("SIGMA_ES_COMPLEXITY_CORPUS") == "all"
    threshold = automaton.EFFORT_CAP // 100
    automata = [a for a in recorded if everything or a.refused or a.effort() >= threshold]
    index = live_index_name("complexity")
    opensearch.indices.create(index=index, body={"mappings": {"properties": {FIELD: {"type": "keyword"}}}})
    try:
        failures = []
        for start in range(0, len(automata), BATCH):
            failures.extend(rejected(opensearch, index, automata[start:start + BATCH]))
    finally:
        opensearch.indices.delete(index=index, ignore_unavailable=True)
    missed = [a for a, _ in failures if not a.refused]
    assert not missed, f"OpenSearch rejects automata the backends let through: {missed}"
    refused = [a for a in automata if a.refused]
    rewritten = [a for a in automata if a.rewritten]
    assert rewritten, "the wsass regexp (KNOWN_COMPLEX) is no longer rewritten: its rule is refused again"
    print(f"\ncomplexity: {len(recorded)} automata emitted, {len(automata)} checked on OpenSearch, {len(failures)} "
          f"too complex there, {len(refused)} refused by the backends, {len(rewritten)} rewritten (valid there)")


# --- the border, on small inline patterns ---------------------------------------------------------------
@pytest.mark.parametrize("regexp", [
    ".*a.{12}",            # effort 61440: under the default limit (.*a.{13}, 131072, is over: unit tests)
    ".*[Ää].{10}",         # UTF-8 step: the byte automaton is determinized too
    ".*[È-\U0010ffff].{3}",  # … also when the only non-ASCII bound starts a transition
    "[^\"]{0,64}",         # repetition bound 64
    ".*(ab|ac|ad)*x.{4}",
])
def test_replay_finds_the_exact_limit(opensearch: OpenSearch, live_index_name, regexp: str) -> None:
    """The smallest max_determinized_states OpenSearch accepts is the one the replay computes."""
    limit = automaton.regexp_complexity(regexp).work_limit
    index = live_index_name("complexity")
    opensearch.indices.create(index=index, body={"mappings": {"properties": {FIELD: {"type": "keyword"}}}})
    try:
        def valid(states: int) -> bool:
            clause = {"regexp": {FIELD: {"value": regexp, "flags": "ALL", "max_determinized_states": states}}}
            return opensearch.indices.validate_query(index=index, body={"query": clause})["valid"]

        assert valid(limit)
        assert limit == 1 or not valid(limit - 1)
    finally:
        opensearch.indices.delete(index=index, ignore_unavailable=True)


def _star_pattern(text: str) -> Pattern:
    parts: list[str | Wildcard] = []
    for char in text:
        part = Wildcard.MULTI if char == "*" else Wildcard.SINGLE if char == "?" else char
        if isinstance(part, str) and parts and isinstance(parts[-1], str):
            parts[-1] += part
        else:
            parts.append(part)
    return Pattern(tuple(parts))


@pytest.mark.parametrize(("wildcard", "fits"), [
    ("*a" + "?" * 11 + "*", True),    # effort 61440
    ("*a" + "?" * 13 + "*", False),   # effort 278528
])
@pytest.mark.parametrize("case_insensitive", [False, True])
def test_wildcard_border_on_opensearch(opensearch: OpenSearch, live_index_name, wildcard: str, fits: bool,
                                       case_insensitive: bool) -> None:
    pattern = _star_pattern(wildcard)
    assert automaton.wildcard_complexity(pattern, case_insensitive).fits() is fits
    index = live_index_name("complexity")
    opensearch.indices.create(index=index, body={"mappings": {"properties": {FIELD: {"type": "keyword"}}}})
    try:
        item = Automaton("es_dsl", "wildcard", pattern, case_insensitive, not fits)
        assert opensearch.indices.validate_query(index=index, body={"query": item.clause()})["valid"] is fits
        term = Automaton("es_lucene", "wildcard", pattern, False, not fits)
        assert opensearch.indices.validate_query(index=index, body={"query": term.clause()})["valid"] is fits
    finally:
        opensearch.indices.delete(index=index, ignore_unavailable=True)
