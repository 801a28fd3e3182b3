"""The speed shortcuts of bulk conversion change no output.

Each shortcut (conversion/, backends/) has a plain path it replaces; converting the same rules with
every shortcut on and with every shortcut off must give the same results, byte for byte, and the
escaping tables must render every character as the per-character rules do.
SIGMA_ES_FULL_CORPUS=1 compares the whole SigmaHQ corpus (default: every 8th file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from sigma.processing.conditions import LogsourceCondition
from sigma.rule import SigmaRule
from sigma.rule.base import SigmaYAMLLoader

from sigma_es_backend.backends import escaping, typetests
from sigma_es_backend.backends import pattern as pattern_module
from sigma_es_backend.backends.common import StringDispatchMixin
from sigma_es_backend.backends.lucene import LuceneBackend
from sigma_es_backend.backends.pattern import Pattern, Wildcard
from sigma_es_backend.conversion import ConversionSettings, iter_rule_files, parsing
from sigma_es_backend.conversion import converter as converter_module
from sigma_es_backend.conversion.converter import Converter
from sigma_es_backend.conversion.parsing import parse_rule_documents, parse_rule_file
from sigma_es_backend.pipelines import transformations
from sigma_es_backend.pipelines.ecs import DataSourceCondition

FULL_CORPUS = os.environ.get("SIGMA_ES_FULL_CORPUS", "") == "1"


def corpus_files(shared_dir: Path) -> list[Path]:
    dirs = [shared_dir / "sigma" / d for d in ("rules", "rules-emerging-threats", "rules-threat-hunting")]
    return list(iter_rule_files(dirs))[:: 1 if FULL_CORPUS else 8]


def convert_all(files: list[Path], target: str) -> list[str]:
    converter = Converter(ConversionSettings.create(target))
    return [json.dumps(r.as_dict(), ensure_ascii=False, default=str) for f in files for r in converter.convert_file(f)]


@pytest.mark.parametrize("target", ["es_lucene", "es_eql"])
def test_every_shortcut_off_gives_the_same_results_byte_for_byte(shared_dir: Path, target: str, monkeypatch) -> None:
    files = corpus_files(shared_dir)
    fast = convert_all(files, target)
    assert converter_module._PARSED  # the condition memo was used

    def pysigma_yaml(text: bytes | str) -> tuple[list[dict], bool]:  # and rules built by from_dicts
        return [d for d in yaml.load_all(text, Loader=SigmaYAMLLoader) if d is not None], False

    original_init = Converter.__init__

    def unfiltered_init(self: Converter, settings: ConversionSettings) -> None:
        original_init(self, settings)
        self.item_filter.enabled = False  # every pipeline item evaluated for every rule

    monkeypatch.setattr(converter_module, "parse_rule_file", pysigma_yaml)  # pySigma's YAML loader, from_dicts
    monkeypatch.setattr(converter_module, "memoise_conditions", lambda collection: None)  # pySigma's parse
    monkeypatch.setattr(converter_module, "rule_options", dict)  # pySigma's default policy: regexps compiled anew
    monkeypatch.setattr(StringDispatchMixin, "string_dispatch_shortcut", False)  # pySigma's dispatch
    monkeypatch.setattr(transformations, "_plain_item", lambda item: False)  # field rewrites walk every rule
    monkeypatch.setattr(parsing, "_MEMOISE_TAGS", False)  # PyYAML resolves every scalar's tag
    monkeypatch.setattr(pattern_module, "MEMOISE", False)  # every value's Pattern built anew
    monkeypatch.setattr(LuceneBackend, "memoise_matches", False)  # every value's Lucene query built anew
    monkeypatch.setattr(LuceneBackend, "boolean_shortcut", False)  # pySigma's AND/OR/group conversion
    monkeypatch.setattr(Converter, "__init__", unfiltered_init)

    def unmemoised_match(self: DataSourceCondition, rule) -> bool:  # the condition asked for every rule
        return LogsourceCondition.match(self, rule) and not (
            isinstance(rule, SigmaRule) and any(rule.logsource in other for other in self.more_specific))

    monkeypatch.setattr(DataSourceCondition, "match", unmemoised_match)
    slow = convert_all(files, target)

    assert len(fast) == len(slow) > 400
    assert sum('"errors": []' in r for r in fast) > 300  # converted rules compared, not only failures
    assert fast == slow


# Characters the escaping tables must render like the per-character rules: ASCII, Latin-1, letters
# with case forms of other lengths (ß, İ, ŉ), Greek/Cyrillic, whitespace of every kind, surrogates.
CHARACTERS = "".join(chr(c) for c in (*range(0x0, 0x250), *range(0x370, 0x530), 0x1E9E, 0x2000, 0x200B,
                                      0x2028, 0x3000, 0xFEFF, 0xD800, 0x1F600))


def test_lucene_term_renders_each_character_as_the_per_character_rule() -> None:
    def reference(p: Pattern) -> str:
        out = []
        for c in p.chars():
            if isinstance(c, Wildcard):
                out.append(c.value)
            else:
                out.append("\\" + c if c in escaping.LUCENE_RESERVED or c.isspace() else c)
        return "".join(out)

    for chunk in (CHARACTERS[i:i + 40] for i in range(0, len(CHARACTERS), 40)):
        pattern = Pattern((Wildcard.MULTI, "x" + chunk, Wildcard.SINGLE, chunk))
        assert escaping.lucene_term(pattern) == reference(pattern)


@pytest.mark.parametrize("case_insensitive", [True, False])
@pytest.mark.parametrize("delimiter_escape", [True, False])
@pytest.mark.parametrize("backslash_class", [True, False])
def test_regexp_from_pattern_renders_each_character_as_the_per_character_rule(
        case_insensitive: bool, delimiter_escape: bool, backslash_class: bool) -> None:
    reserved = escaping.LUCENE_REGEXP_RESERVED if delimiter_escape else escaping.LUCENE_REGEXP_RESERVED - {"/"}

    def reference(p: Pattern) -> str:
        out = []
        for c in p.chars():
            if c is Wildcard.MULTI:
                out.append(".*")
            elif c is Wildcard.SINGLE:
                out.append(".")
            elif c == "\\" and backslash_class:
                out.append("[\\\\\\\\]")
            else:
                out.append(escaping.regexp_literal_char(c, case_insensitive, reserved))
        return "".join(out)

    for chunk in (CHARACTERS[i:i + 40] for i in range(0, len(CHARACTERS), 40)):
        pattern = Pattern((chunk, Wildcard.MULTI, "\\/" + chunk, Wildcard.SINGLE))
        assert escaping.regexp_from_pattern(pattern, case_insensitive, delimiter_escape,
                                            backslash_class) == reference(pattern)


@pytest.mark.parametrize(("text", "unshared"), [
    ("title: t\ndetection: {sel: {a: x}, condition: sel}\n", True),
    ("a: &s text\nb: *s\n", True),  # an aliased string is no shared list or map
    ("a: &m {k: v}\nb: *m\n", False),
    ("a: &l [1, 2]\nb: [*l, *l]\n", False),
    ("a: 1\n---\nb: &l [1]\nc: *l\n", False),  # any document of the file
])
def test_loader_tells_whether_documents_share_a_list_or_map(text: str, unshared: bool) -> None:
    """Only files whose documents share nothing skip pySigma's alias-expansion walk (see `preparsed`)."""
    documents, result = parse_rule_file(text)
    assert documents == parse_rule_documents(text) and result is unshared


def test_has_case_answers_as_the_per_character_rule() -> None:
    """Pattern.has_case compares whole ASCII texts at once; every text must get the per-character answer."""
    texts = [CHARACTERS[i:i + 3] for i in range(len(CHARACTERS))] + [chr(c) for c in range(128)]
    texts += ["", "123-_.", "C:\\Windows\\", "ß", "ŉ", "İ"]
    for text in texts:
        assert Pattern.literal(text).has_case() is any(c.lower() != c.upper() for c in text), repr(text)


def test_class_tests_answer_as_isinstance() -> None:
    """The per-class answers (backends/typetests.py) are isinstance's, for every pySigma value class."""
    import inspect

    import sigma.types

    values = [sigma.types.SigmaString("a*"), sigma.types.SigmaCasedString("a"), sigma.types.SigmaNumber(1),
              sigma.types.SigmaNull(), sigma.types.SigmaFieldReference("f"), sigma.types.SigmaExpansion([]),
              sigma.types.SigmaRegularExpression("a."), sigma.types.SigmaBool(True)]
    classes = {cls for _, cls in inspect.getmembers(sigma.types, inspect.isclass)
               if issubclass(cls, sigma.types.SigmaType)}
    assert len(classes) > 10
    for test in (typetests.IS_STRING, typetests.IS_CASED_STRING, typetests.IS_EXPANSION,
                 typetests.IS_FIELD_REFERENCE):
        for value in values:
            assert test[type(value)] is isinstance(value, test.cls)
        for cls in classes:
            assert test[cls] is issubclass(cls, test.cls)
