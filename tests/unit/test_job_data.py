"""What the parent hands the workers: file contents and YAML it parsed while they were being prepared."""

from __future__ import annotations

import pickle
from pathlib import Path

from sigma_es_backend.conversion import batch
from sigma_es_backend.conversion.converter import Converter
from sigma_es_backend.conversion.parsing import parse_rule_file, pickled_parse
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
MERGE_KEY = b"base: &b {a: 1}\nrule:\n  <<: *b\n"  # left to pySigma's loader: the worker parses it


def test_a_pickled_parse_is_what_the_parser_gives_and_none_for_what_the_worker_must_parse() -> None:
    assert pickle.loads(pickled_parse(RULE)) == parse_rule_file(RULE)
    assert pickle.loads(pickled_parse(SHARED)) == parse_rule_file(SHARED)
    assert pickle.loads(pickled_parse(SHARED))[1] is False  # the shared list is still known as shared
    assert pickled_parse(BAD_YAML) is None and pickled_parse(MERGE_KEY) is None


def test_job_data_gives_back_each_piece_where_it_was_put() -> None:
    data = batch.JobData()
    try:
        pieces = [RULE, b"", b"x" * 3_000_000, SHARED]
        extents = [data.put(piece) for piece in pieces]
        assert [data.get(extent) for extent in extents] == pieces
        assert extents[2] == (len(RULE), 3_000_000)
    finally:
        data.close()


class PoolReadyAfter:
    """A pool whose workers are ready after `calls` questions."""

    def __init__(self, calls: int):
        self.calls = calls

    def ready(self) -> bool:
        self.calls -= 1
        return self.calls < 0


def test_the_parent_parses_files_until_the_workers_are_ready() -> None:
    data = batch.JobData()
    try:
        texts = [RULE, None, BAD_YAML, SHARED, RULE, RULE]
        parsed = batch._parse_until_ready(PoolReadyAfter(4), data, texts)  # type: ignore[arg-type]
        assert sorted(parsed) == [0, 3]  # 1: unreadable, 2: for the worker to report; 4, 5: too late
        assert pickle.loads(data.get(parsed[3])) == parse_rule_file(SHARED)
    finally:
        data.close()


def test_a_file_converts_alike_from_its_text_or_from_its_pickled_parse(tmp_path: Path) -> None:
    converter = Converter(ConversionSettings.create("es_lucene"))
    for text in (RULE, SHARED):
        path = tmp_path / "rule.yml"
        path.write_bytes(text)
        from_text = converter.convert_file(path, text)
        assert [r.as_dict() for r in converter.convert_file(path, text, parsed=pickled_parse(text))] == \
            [r.as_dict() for r in from_text]
        assert from_text[0].ok, from_text[0].errors
