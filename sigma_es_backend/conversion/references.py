"""Correlation rules referencing rules of other files of the same run.

Each file converts on its own (in a worker, cached per file), so before the run the parent finds, for
every file with a correlation rule, the files that define the rules it references by name or id and are
not in the file itself. That file's job then gets those rule documents too: they are converted with it
(their queries feed the correlation) but reported by their own file only. A referenced rule whose
correlation does not `generate` it is not output by its own file either, as pySigma does for one
collection. Both facts are part of the affected files' cache keys (`JobContext.key_material`).

A run without correlation rules (found by a byte scan) parses nothing here.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

_CORRELATION = re.compile(rb"^correlation\s*:", re.MULTILINE)


@dataclass(frozen=True)
class JobContext:
    """What a file's conversion needs from the rest of the run."""

    extra: tuple[tuple[str, bytes], ...] = ()  # (path, content) of files defining referenced rules
    wanted: frozenset[str] = frozenset()  # the names / ids wanted from those files
    suppressed: frozenset[str] = frozenset()  # names / ids of this file's rules not to output

    def key_material(self) -> bytes:
        """Bytes for the cache key: empty when the file depends on no other file."""
        if not (self.extra or self.suppressed):
            return b""
        digest = hashlib.sha256()
        for path, content in self.extra:
            digest.update(path.encode("utf-8", "surrogateescape") + b"\0" + hashlib.sha256(content).digest())
        digest.update(b"\0wanted\0" + "\0".join(sorted(self.wanted)).encode())
        digest.update(b"\0suppressed\0" + "\0".join(sorted(self.suppressed)).encode())
        return digest.digest()


@dataclass
class _FileRules:
    keys: set[str] = field(default_factory=set)  # names and ids (ids lowercased) defined in the file
    references: list[tuple[str, bool]] = field(default_factory=list)  # (reference, generate) of correlations


def _documents(content: bytes) -> Iterator[dict[str, Any]]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        for document in yaml.load_all(content, Loader=loader):  # noqa: S506 - a safe loader
            if isinstance(document, dict):
                yield document
    except yaml.YAMLError:
        return  # the file's own conversion reports it


def _rule_keys(document: dict[str, Any]) -> set[str]:
    keys = set()
    if isinstance(document.get("name"), str):
        keys.add(document["name"])
    if document.get("id") is not None:
        keys.add(str(document["id"]).lower())
    return keys


def _scan(content: bytes) -> _FileRules:
    rules = _FileRules()
    for document in _documents(content):
        rules.keys |= _rule_keys(document)
        correlation = document.get("correlation")
        if isinstance(correlation, dict) and isinstance(correlation.get("rules"), list):
            generate = bool(correlation.get("generate", False))
            rules.references += [(str(r), generate) for r in correlation["rules"]]
    return rules


def _normalized(reference: str) -> str:
    return reference.lower() if re.fullmatch(r"[0-9a-fA-F-]{36}", reference) else reference


def plan(files: Sequence[str | os.PathLike[str]], contents: list[bytes | None]) -> dict[int, JobContext]:
    """file index → JobContext, for the files that depend on others or whose rules others reference."""
    correlation_files = [i for i, c in enumerate(contents)  # a substring test first: the regexp is slower
                         if c is not None and b"correlation" in c and _CORRELATION.search(c)]
    if not correlation_files:
        return {}
    scanned = {i: _scan(contents[i] or b"") for i in correlation_files}
    missing: dict[int, dict[str, bool]] = {}  # correlation file → reference → generate
    for i, rules in scanned.items():
        outside = {_normalized(r): g for r, g in rules.references if _normalized(r) not in rules.keys}
        if outside:
            missing[i] = outside
    if not missing:
        return {}
    wanted = {r for refs in missing.values() for r in refs}
    definers: dict[str, int] = {}  # reference → first file (in run order) defining it
    for j, content in enumerate(contents):
        if content is None or not any(r.encode() in content or r.upper().encode() in content for r in wanted):
            continue  # a cheap byte test before parsing
        keys = scanned[j].keys if j in scanned else _scan(content).keys
        for reference in wanted & keys:
            definers.setdefault(reference, j)
    extra: dict[int, dict[int, set[str]]] = {}
    suppressed: dict[int, set[str]] = {}
    for i, refs in missing.items():
        for reference, generate in refs.items():
            j = definers.get(reference)
            if j is None or j == i:
                continue  # not found: the correlation rule fails naming it
            extra.setdefault(i, {}).setdefault(j, set()).add(reference)
            if not generate:
                suppressed.setdefault(j, set()).add(reference)
    contexts: dict[int, JobContext] = {}
    for i in set(extra) | set(suppressed):
        deps = extra.get(i, {})
        contexts[i] = JobContext(
            extra=tuple((str(files[j]), contents[j] or b"") for j in sorted(deps)),
            wanted=frozenset(r for refs in deps.values() for r in refs),
            suppressed=frozenset(suppressed.get(i, ())))
    return contexts
