"""Rule files parsed while the parent process is still starting up.

Before the workers can fork, the parent imports pySigma and builds the backend with its pipeline (0.2 to
0.3 s), on one core: the other is idle. A helper process forked before that parses the YAML of the files
in the order the workers will take them (libyaml needs no pySigma) and appends each result, pickled, to a
temporary file. When the parent is ready it stops the helper and reads what is complete: the workers
unpickle those documents (a tenth of the parsing time) and parse the others themselves. Nothing depends
on how far the helper got; a file it could not parse (bad YAML, a document left to pySigma's loader) is
simply not in the answer.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import struct
import tempfile
from collections.abc import Sequence

from sigma_es_backend.conversion.parsing import parse_common_rule_file

_HEADER = struct.Struct("<II")  # (position in the list given, length of the pickle)


def _parse_all(texts: Sequence[bytes | None], fd: int) -> None:
    for position, text in enumerate(texts):
        if text is None:
            continue
        try:
            parsed = pickle.dumps(parse_common_rule_file(text), pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - the worker parses it again and reports what is wrong
            continue
        record = memoryview(_HEADER.pack(position, len(parsed)) + parsed)
        while record:
            record = record[os.write(fd, record):]


class Preparser:
    """`Preparser(texts)` starts parsing in a forked process; `collect()` stops it and returns
    {position in texts: pickled (documents, unshared) as `parsing.parse_rule_file` gives them}."""

    def __init__(self, texts: Sequence[bytes | None]):
        self._file = tempfile.TemporaryFile()
        self._process = multiprocessing.get_context("fork").Process(
            target=_parse_all, args=(texts, self._file.fileno()), daemon=True)
        self._process.start()

    def collect(self, finish: bool = False) -> dict[int, bytes]:
        """finish: let the helper parse every file first (else it is stopped where it is)."""
        if finish:
            self._process.join()
        self.stop()
        parsed: dict[int, bytes] = {}
        with self._file:
            self._file.seek(0)
            data = self._file.read()
        offset = 0
        while offset + _HEADER.size <= len(data):
            position, length = _HEADER.unpack_from(data, offset)
            start = offset + _HEADER.size
            if start + length > len(data):
                break  # the record being written when the helper was stopped
            parsed[position] = data[start:start + length]
            offset = start + length
        return parsed

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
