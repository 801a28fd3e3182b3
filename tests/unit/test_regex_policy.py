"""The rules a converter builds use pySigma's default policy with a regex engine that keeps what it compiled."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

policy_module = pytest.importorskip("sigma.policy")  # pySigma 2: pySigma 1.5 has no policy

from sigma.policy.regex_engine import RE2RegexEngine  # noqa: E402

from sigma_es_backend.conversion import ConversionSettings  # noqa: E402
from sigma_es_backend.conversion.converter import Converter  # noqa: E402
from sigma_es_backend.conversion.regex_policy import MemoisedRegexEngine, memoised_policy  # noqa: E402

RULE = """
title: Two selectors
logsource: {product: windows, category: process_creation}
detection:
    selection_img: {Image|endswith: '\\\\whoami.exe'}
    selection_cli: {CommandLine|re: 'whoami\\s+/all'}
    filter_main_a: {User: 'SYSTEM'}
    condition: 1 of selection_* and not 1 of filter_main_*
"""


def test_engine_gives_the_pattern_it_compiled_before() -> None:
    engine = MemoisedRegexEngine(RE2RegexEngine())
    first = engine.compile("selection_.*")
    assert engine.compile("selection_.*") is first
    assert engine.compile("selection_.*", 0) is first
    assert engine.compile("filter_.*") is not first
    assert first.fullmatch("selection_img") and not first.fullmatch("filter_a")


def test_engine_keeps_no_failure_and_raises_the_wrapped_engines_error() -> None:
    engine = MemoisedRegexEngine(RE2RegexEngine())
    for _ in range(2):  # raised again: a failure is not kept
        with pytest.raises(engine.error):
            engine.compile("(unclosed")
    assert engine.error is RE2RegexEngine().error


def test_engine_stands_for_the_engine_it_wraps() -> None:
    engine = MemoisedRegexEngine(RE2RegexEngine())
    assert engine == RE2RegexEngine() and hash(engine) == hash(RE2RegexEngine())


def test_policy_is_pysigmas_default_with_the_engine_memoised() -> None:
    policy = memoised_policy()
    default = policy_module.default_policy
    assert isinstance(policy.regex_engine, MemoisedRegexEngine)
    assert policy.regex_engine.engine is default.regex_engine
    assert (policy.allow_template_vars, policy.vars_allowed_paths, policy.allow_external_sources) == (
        default.allow_template_vars, default.vars_allowed_paths, default.allow_external_sources)


def test_converted_rules_compile_each_selector_once(tmp_path: Path) -> None:
    rule = tmp_path / "rule.yml"
    rule.write_text(RULE)
    converter = Converter(ConversionSettings.create("es_lucene"))
    engine = converter.rule_options["policy"].regex_engine
    first = converter.convert_file(rule)
    compiled = dict(engine._compiled)
    assert {("selection_.*", 0), ("filter_main_.*", 0)} <= compiled.keys()
    second = converter.convert_file(rule)
    assert first == second and first[0].ok, first[0].errors
    assert all(engine._compiled[key] is value for key, value in compiled.items())  # nothing compiled again
    assert "whoami" in first[0].queries[0].lower()


def test_copies_of_rule_objects_share_the_engine() -> None:
    """A deep copy of a rule's condition reaches the policy through the detection items (es_lucene copies
    conditions with field references): the engine is shared, not copied (pySigma's RE2 engine cannot be)."""
    policy = memoised_policy()
    assert copy.deepcopy(policy).regex_engine is policy.regex_engine
    assert copy.copy(policy.regex_engine) is policy.regex_engine


FIELDREF_RULE = """
title: Process runs itself as its parent
logsource: {product: windows, category: process_creation}
detection:
    selection: {Image|fieldref: ParentImage}
    filter_main_system: {User|contains: 'SYSTEM'}
    condition: selection and not 1 of filter_main_*
"""


@pytest.mark.parametrize(("output_format", "converts"), [("default", False), ("dsl_query", True)])
def test_field_reference_rules_convert_with_the_policy(tmp_path: Path, output_format: str, converts: bool) -> None:
    """es_lucene puts a field reference beside the query_string (dsl_query) or refuses it naming the formats
    that can carry it, working on a deep copy of the condition: never a copy error."""
    rule = tmp_path / "rule.yml"
    rule.write_text(FIELDREF_RULE)
    (result,) = Converter(ConversionSettings.create("es_lucene", output_format=output_format)).convert_file(rule)
    if converts:
        assert result.ok, result.errors
        assert "process.parent.executable" in json.dumps(result.queries)
    else:
        assert result.errors and "query_string cannot compare two fields" in result.errors[0], result.errors


RULE_AND_FILTER = """
title: Shell
id: 5013332f-8a70-4e04-bcc1-06a98a2cca2e
logsource: {product: windows, category: process_creation}
detection:
    selection: {Image|endswith: '\\\\cmd.exe'}
    condition: selection
---
title: Not the admin's
logsource: {product: windows, category: process_creation}
filter:
    rules: [5013332f-8a70-4e04-bcc1-06a98a2cca2e]
    selection: {CommandLine|re: 'adm.n'}
    condition: not selection
"""


def test_sigma_filters_apply_with_the_policy(tmp_path: Path) -> None:
    """pySigma deep-copies a filter's detection into each rule it names: with the policy held by the
    detection items, the copy shares the engine and the filter applies."""
    rule = tmp_path / "rule.yml"
    rule.write_text(RULE_AND_FILTER)
    (result,) = Converter(ConversionSettings.create("es_lucene")).convert_file(rule)
    assert result.ok, result.errors
    assert "cmd" in result.queries[0] and "NOT (process.command_line:/" in result.queries[0]
