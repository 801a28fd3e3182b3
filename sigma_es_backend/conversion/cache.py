"""Content-hash cache of conversion results, so an unchanged corpus re-converts near-instantly.

An entry is the list of results of one rule file. Its key hashes the file's path and bytes together
with a fingerprint of everything else the output depends on: target, output format, backend options,
pipelines (ids, and the content of pipeline files), the content of every mapping file, the source of
this package, its version and pySigma's. Any change to one of them misses the cache.

This module imports neither pySigma nor the backends: a fully cached run never loads them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sqlite3
import time
from importlib import util
from pathlib import Path
from typing import Any

from sigma_es_backend import __version__
from sigma_es_backend.conversion.results import RuleResult
from sigma_es_backend.conversion.settings import ConversionSettings
from sigma_es_backend.conversion.versions import pysigma_version

# Bump when the stored layout or the meaning of an entry changes.
CACHE_SCHEMA = 2
CACHE_FILE = "convert-results.sqlite"
# Oldest entries beyond this many are dropped (a corpus converted for a few targets fits many times).
MAX_ENTRIES = 200_000


def _package_dir() -> Path:
    spec = util.find_spec("sigma_es_backend")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def mapping_files_dir() -> Path | None:
    """Where `pipelines.mapping_files.mappings_dir()` finds the mapping files, found without importing
    that module (it imports pySigma); tests/unit/test_conversion_cache.py pins that both agree."""
    package = _package_dir()
    for candidate in (package / "mappings", package.parent / "mappings"):
        if candidate.is_dir():
            return candidate
    return None


def _hash_tree(digest: Any, root: Path | None, suffixes: tuple[str, ...]) -> None:
    if root is None:
        digest.update(b"<none>")
        return
    files: list[str] = []
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        files.extend(os.path.join(dirpath, n) for n in names if n.endswith(suffixes))
    for name in sorted(files):
        digest.update(os.path.relpath(name, root).encode() + b"\0")
        with open(name, "rb") as stream:
            digest.update(hashlib.sha256(stream.read()).digest())


def fingerprint(settings: ConversionSettings) -> str:
    """Hash of everything besides the rule file that the results depend on."""
    digest = hashlib.sha256()
    digest.update(json.dumps({
        "schema": CACHE_SCHEMA, "version": __version__, "pysigma": pysigma_version(),
        "target": settings.target, "format": settings.output_format,
        "options": [list(kv) for kv in settings.backend_options], "pipelines": list(settings.pipelines),
    }, sort_keys=True).encode())
    for name in settings.pipelines:
        path = Path(name)
        if path.is_file():  # a pySigma pipeline file: its content counts, not its name
            digest.update(b"pipeline-file\0" + hashlib.sha256(path.read_bytes()).digest())
    digest.update(b"mappings\0")
    _hash_tree(digest, mapping_files_dir(), (".yml", ".yaml"))
    # The code itself: a changed backend or transformation changes queries even without a new version.
    digest.update(b"source\0")
    _hash_tree(digest, _package_dir(), (".py",))
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """`$SIGMA_ES_CACHE_DIR`, else ~/.cache/sigma-es (root: /var/cache/sigma-es), as for the cluster."""
    from sigma_es_backend.cluster import resolve_cache_dir

    return resolve_cache_dir()


def json_exact(value: Any) -> str | None:
    """`value` as JSON text when JSON gives it back as it is (strings, finite numbers, lists, str-keyed
    dicts), else None. Checked by decoding the text again and comparing (both at C speed: a recursive
    check in Python was a third of the parent process' CPU in a cold corpus run)."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):  # not JSON, or an infinite / NaN float
        return None
    # Tuples, non-str keys and the like come back different; NaN was refused above (NaN != NaN).
    return text if json.loads(text) == value else None


# SQLite's answers for a file that is not (or no longer) a database: the cache starts again empty.
_DAMAGED = frozenset(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def _damaged(error: sqlite3.DatabaseError) -> bool:
    return getattr(error, "sqlite_errorname", None) in _DAMAGED


def results_json(results: list[RuleResult]) -> str | None:
    """`json_exact` of the results' records, the round trip skipped for their queries when those are strings
    (a string is always given back as it is; the queries are nearly all of the text: a compacted IOC list
    is hundreds of kilobytes)."""
    records = [r.as_dict() for r in results]
    if not all(type(query) is str for r in results for query in r.queries):
        return json_exact(records)
    try:
        text = json.dumps(records, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return None
    rest = [{name: value for name, value in record.items() if name != "queries"} for record in records]
    return text if json_exact(rest) is not None else None


class ResultCache:
    """SQLite file of (key → JSON list of RuleResult records); one transaction per run.

    Written without waiting for the disk (`synchronous=OFF`: half of the commit's time on the corpus): a
    crash of this process loses nothing, a crash of the machine during the commit may damage the file, and
    a damaged file is replaced by an empty cache (the rules convert again), never an error.
    """

    def __init__(self, directory: Path, settings: ConversionSettings):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / CACHE_FILE
        self._settings = settings
        self._pending: list[tuple[str, float, str]] = []
        self._hits: dict[str, str] = {}
        self._prefetched = False
        self.hits = self.misses = 0
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as error:
            if not _damaged(error):
                raise
            self._db = self._replace_damaged()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA synchronous=OFF")
            db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, created REAL, value TEXT)")
        except BaseException:
            db.close()
            raise
        return db

    def _replace_damaged(self) -> sqlite3.Connection:
        if getattr(self, "_db", None) is not None:
            self._db.close()
        for suffix in ("", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{self.path}{suffix}")
        return self._open()

    @functools.cached_property
    def fingerprint(self) -> str:
        """`fingerprint` of the settings, computed at the first key: after the workers' preparation started."""
        return fingerprint(self._settings)

    def key(self, path: str, content: bytes, context: bytes = b"") -> str:
        """`context`: what else the file's results depend on (other files of the run its correlation rules
        reference, its rules referenced from elsewhere: references.JobContext.key_material)."""
        digest = hashlib.sha256(self.fingerprint.encode())
        digest.update(b"\0" + path.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(content)
        if context:
            digest.update(b"\0context\0" + context)
        return digest.hexdigest()

    def prefetch(self, keys: list[str]) -> None:
        """Load the entries for `keys` in a few queries instead of one per file (then `get` asks no more)."""
        self._prefetched = True
        try:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                placeholders = ",".join("?" * len(chunk))
                self._hits.update(self._db.execute(
                    f"SELECT key, value FROM results WHERE key IN ({placeholders})", chunk).fetchall())
        except sqlite3.DatabaseError as error:
            if not _damaged(error):
                raise
            self._hits.clear()
            self._db = self._replace_damaged()

    def get(self, key: str) -> list[RuleResult] | None:
        value = self._hits.pop(key, None)
        if value is None and not self._prefetched:
            try:
                row = self._db.execute("SELECT value FROM results WHERE key = ?", (key,)).fetchone()
            except sqlite3.DatabaseError as error:
                if not _damaged(error):
                    raise
                self._db = self._replace_damaged()
                row = None
            value = row[0] if row else None
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        return [RuleResult.from_dict(d) for d in json.loads(value)]

    def put(self, key: str, results: list[RuleResult]) -> None:
        value = results_json(results)
        if value is None:
            return  # e.g. a query object JSON cannot carry exactly: never cached
        self._pending.append((key, time.time(), value))

    def commit(self) -> None:
        if self._pending:
            try:
                self._store()
            except sqlite3.DatabaseError as error:
                if not _damaged(error):
                    raise
                self._db = self._replace_damaged()
                self._store()
            self._pending = []

    def _store(self) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?)", self._pending)
            (count,) = self._db.execute("SELECT COUNT(*) FROM results").fetchone()
            if count > MAX_ENTRIES:
                self._db.execute("DELETE FROM results WHERE key IN (SELECT key FROM results "
                                 "ORDER BY created LIMIT ?)", (count - MAX_ENTRIES,))

    def close(self) -> None:
        self.commit()
        self._db.close()
