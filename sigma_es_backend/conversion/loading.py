"""Finding rule files (no YAML here: a fully cached run never parses one)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

RULE_SUFFIXES = (".yml", ".yaml")


def iter_rule_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files given as such, and every *.yml / *.yaml under directories (sorted, hidden dirs skipped)."""
    for path in paths:
        if not path.is_dir():
            yield path
            continue
        found: list[str] = []
        # os.walk: a third of the time of Path.rglob on the 3,754-file corpus (it matters when cached).
        for root, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found.extend(os.path.join(root, f) for f in files if f.endswith(RULE_SUFFIXES))
        yield from (Path(f) for f in sorted(found))
