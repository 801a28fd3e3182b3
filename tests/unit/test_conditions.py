"""The condition parser builds exactly pySigma's parse trees, or leaves the condition to pySigma."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sigma.conditions import (
    ConditionAND,
    ConditionIdentifier,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionSelector,
    SigmaCondition,
)

from sigma_es_backend.conversion import ConversionSettings, conditions
from sigma_es_backend.conversion.conditions import PROBES, parse_condition, same_tree
from sigma_es_backend.conversion.converter import Converter
from sigma_es_backend.conversion.parsing import parse_rule_file


def pysigma_tree(condition: str):
    return SigmaCondition(condition, None).parse(False)


def test_precedence_runs_and_parentheses() -> None:
    a, b, c = (ConditionIdentifier([x]) for x in "abc")
    assert parse_condition("a or b and c") == ConditionOR([a, ConditionAND([b, c])])
    assert parse_condition("a and b and c") == ConditionAND([a, b, c])
    assert parse_condition("(a and b) and c") == ConditionAND([ConditionAND([a, b]), c])
    assert parse_condition("not not a") == ConditionNOT([ConditionNOT([a])])
    assert parse_condition("((a))") == a
    selector = parse_condition("1 of filter_*")
    assert isinstance(selector, ConditionSelector)
    assert (selector.args, selector.cond_class, selector.pattern) == (["1", "filter_*"], ConditionOR, "filter_*")


@pytest.mark.parametrize("condition", [
    "",  # no condition
    "a and",  # syntax errors: pySigma's message
    "a b",
    "(a",
    "a)",
    "a AND b",  # keywords are lower case: an identifier AND, then an error
    "sel | count() > 5",  # the deprecated aggregation
    "notepad",  # pySigma 1.5 reads `not epad`, 2.0 an identifier
    "not_a",
    "and",  # a keyword where an identifier could be
    "1 and a",
    "1 of sel-*",  # a dash is no pattern character
    "sel*",  # a pattern outside a selector
    "sél",  # outside pySigma's ASCII token sets
    "a\x0band b",  # whitespace pyparsing does not skip
])
def test_doubtful_conditions_are_left_to_pysigma(condition: str) -> None:
    assert parse_condition(condition) is None


def test_every_probe_is_read_and_the_installed_pysigma_agrees() -> None:
    conditions._verified = None
    assert conditions.verified()
    for probe in PROBES:
        assert parse_condition(probe) is not None, probe


def corpus_conditions(shared_dir: Path) -> set[str]:
    found = set()
    for path in (shared_dir / "sigma").rglob("*.yml"):
        try:
            documents, _ = parse_rule_file(path.read_bytes())
        except Exception:  # noqa: BLE001 - regression samples and broken files are not rules
            continue
        for document in documents:
            detection = document.get("detection") if isinstance(document, dict) else None
            condition = detection.get("condition") if isinstance(detection, dict) else None
            found.update(c for c in (condition if isinstance(condition, list) else [condition]) if isinstance(c, str))
    return found


def test_every_corpus_condition_gives_pysigmas_tree(shared_dir: Path) -> None:
    found = corpus_conditions(shared_dir)
    assert len(found) > 300
    for condition in found:
        ours = parse_condition(condition)
        assert ours is not None, condition
        assert same_tree(ours, pysigma_tree(condition)), condition


def random_condition(rnd: random.Random, depth: int = 0) -> str:
    identifiers = ["a", "sel1", "x-y", "not_a", "selection_img", "A", "b2", "_f", "1 of sel*", "all of them",
                   "any of f_*", "all of a*b", "notepad", "oreo", "andy"]
    roll = rnd.random()
    if depth > 4 or roll < 0.3:
        return rnd.choice(identifiers)
    if roll < 0.45:
        return rnd.choice(["not ", "not  ", "not\t"]) + random_condition(rnd, depth + 1)
    if roll < 0.6:
        return "(" + rnd.choice(["", " "]) + random_condition(rnd, depth + 1) + rnd.choice(["", " ", "\n"]) + ")"
    operator = rnd.choice([" and ", " or ", "\tand\n", " or  ", ")and(", ")or("])
    if ")" in operator:
        return "(" + operator.join(random_condition(rnd, depth + 1) for _ in range(rnd.randint(2, 4))) + ")"
    return operator.join(random_condition(rnd, depth + 1) for _ in range(rnd.randint(2, 4)))


def test_random_conditions_give_pysigmas_tree_or_are_left_to_it() -> None:
    rnd = random.Random(7)
    read = 0
    for _ in range(3000):
        condition = random_condition(rnd)
        ours = parse_condition(condition)
        if ours is None:
            continue
        read += 1
        assert same_tree(ours, pysigma_tree(condition)), condition
    assert read > 1000


def test_same_tree_tells_shapes_and_node_classes_apart() -> None:
    assert same_tree(parse_condition("a and b"), pysigma_tree("a and b"))
    assert not same_tree(parse_condition("a and b"), pysigma_tree("a or b"))
    assert not same_tree(parse_condition("(a and b) and c"), pysigma_tree("a and b and c"))
    assert not same_tree(parse_condition("1 of x*"), pysigma_tree("all of x*"))
    assert not same_tree(parse_condition("a"), pysigma_tree("b"))


RULE = """
title: t
logsource: {product: windows, category: process_creation}
detection:
    sel: {Image|endswith: '\\\\cmd.exe'}
    filter_a: {CommandLine|contains: 'x'}
    condition: %s
"""


def convert(tmp_path: Path, condition: str) -> list:
    path = tmp_path / "rule.yml"
    path.write_text(RULE % condition)
    return Converter(ConversionSettings.create("es_lucene")).convert_file(path)


def test_conversion_uses_it_and_pysigma_only_for_the_rest(tmp_path: Path, monkeypatch) -> None:
    from sigma_es_backend.conversion import converter as converter_module

    assert conditions.verified()
    calls = []
    original = SigmaCondition.parse

    def counted(self, postprocess: bool = True):
        calls.append(self.condition)
        return original(self, postprocess)

    monkeypatch.setattr(SigmaCondition, "parse", counted)
    monkeypatch.setattr(converter_module, "_PARSED", {})
    (result,) = convert(tmp_path, "sel and not 1 of filter_*")
    assert result.ok and calls == []
    assert result.queries == convert(tmp_path, "sel and not filter_a")[0].queries
    (broken,) = convert(tmp_path, "sel and")
    # the pipeline adds its event filter to the condition: `_sigma_es_event_filter and (sel and)`
    assert len(calls) == 1 and calls[0].endswith("(sel and)") and not broken.ok and broken.errors  # pySigma's


def test_a_pysigma_that_builds_other_trees_turns_it_off(tmp_path: Path, monkeypatch) -> None:
    from sigma_es_backend.conversion import converter as converter_module

    original = SigmaCondition.parse
    calls = []

    def flatten(node):
        if isinstance(node, ConditionItem):
            node.args = [flatten(arg) for arg in node.args]
            if type(node) is ConditionAND:
                node.args = [inner for arg in node.args for inner in (arg.args if type(arg) is ConditionAND else [arg])]
        return node

    def flattening(self, postprocess: bool = True):  # a pySigma reading `(a and b) and c` as `a and b and c`
        calls.append(self.condition)
        return flatten(original(self, postprocess))

    monkeypatch.setattr(SigmaCondition, "parse", flattening)
    monkeypatch.setattr(conditions, "_verified", None)
    monkeypatch.setattr(converter_module, "_PARSED", {})
    assert not conditions.verified()
    calls.clear()
    (result,) = convert(tmp_path, "(sel and not filter_a) and sel")
    assert result.ok and len(calls) == 1 and calls[0].endswith("((sel and not filter_a) and sel)")  # by pySigma
