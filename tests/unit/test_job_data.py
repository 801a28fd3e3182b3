"""Rule files parsed by a helper process during start-up (conversion/preparse.py)."""

from __future__ import annotations

import pickle
from pathlib import Path

from sigma_es_backend.conversion.converter import Converter
from sigma_es_backend.conversion.parsing import parse_rule_file
from sigma_es_backend.conversion.preparse import Preparser
from sigma_es_backend.conversion.settings import ConversionSettings

RULE = b"""title: Whoami
id: 8f6b2bd4-2b2b-4d1c-9a0e-7f3a6f0c1a11
logsource: {category: process_creation, product: windows}
detection:
    selection: {Image|endswith: '\\\\whoami.exe'}
    condition: selection
"""
# One list reached twice through a YAML alias: the loader reports the documents as sharing it.
SHARED = b"""title: Shared list
id: 3c9d0d8e-1f55-4a55-9a1e-0d2a1e7d5b22
logsource: {category: process_creation, product: windows}
detection:
    first: {CommandLine|contains: &values ['-enc ', '-e ']}
    second: {ParentCommandLine|contains: *values}
    condition: first or second
"""
BAD_YAML = b"title: [unclosed\n"
MERGE_KEY = b"base: &b {a: 1}\nrule:\n  <<: *b\n"  # left to pySigma's loader: the helper skips it


def test_the_helper_gives_what_the_parser_gives_and_skips_what_it_leaves_to_others() -> None:
    texts = [RULE, None, BAD_YAML, MERGE_KEY, SHARED]
    parsed = Preparser(texts).collect(finish=True)
    assert sorted(parsed) == [0, 4]
    for position in parsed:
        assert pickle.loads(parsed[position]) == parse_rule_file(texts[position])
    assert pickle.loads(parsed[4])[1] is False  # the shared list is still known as shared


def test_a_helper_stopped_early_returns_only_whole_results() -> None:
    texts = [RULE.replace(b"Whoami", b"Whoami %d" % n) for n in range(3000)]
    parsed = Preparser(texts).collect()  # stopped at once, wherever it is
    assert len(parsed) < len(texts)
    for position, blob in parsed.items():
        assert pickle.loads(blob) == parse_rule_file(texts[position])


def test_a_file_converts_alike_from_its_text_or_from_the_helpers_result(tmp_path: Path) -> None:
    converter = Converter(ConversionSettings.create("es_lucene"))
    for text in (RULE, SHARED):
        path = tmp_path / "rule.yml"
        path.write_bytes(text)
        blob = Preparser([text]).collect(finish=True)[0]
        from_text = converter.convert_file(path, text)
        assert [r.as_dict() for r in converter.convert_file(path, text, parsed=blob)] == \
            [r.as_dict() for r in from_text]
        assert from_text[0].ok, from_text[0].errors
