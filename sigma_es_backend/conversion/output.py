"""Where converted rules go: queries one per line, JSON lines, or one file per rule in a directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from sigma_es_backend.conversion.results import RuleResult


def render_query(query: Any) -> str:
    """A query as text: strings as they are, structured queries (es_dsl) as compact JSON."""
    return query if isinstance(query, str) else json.dumps(query, ensure_ascii=False)


class QueryLinesWriter:
    """Each query of each converted rule on its own line."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, result: RuleResult) -> None:
        for query in result.queries:
            self.stream.write(render_query(query) + "\n")


class JsonLinesWriter:
    """One JSON object per rule, failed ones included: path, id, title, logsource, queries, warnings, errors."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, result: RuleResult) -> None:
        self.stream.write(json.dumps(result.as_dict(), ensure_ascii=False, default=str) + "\n")


class DirectoryWriter:
    """One file per converted rule under `directory`, mirroring the input tree.

    A rule from `<root>/a/b/rule.yml` goes to `<directory>/<root name>/a/b/rule.txt` (`.json` for
    structured queries); a second rule in the same file to `rule-2.txt`, and so on. A rule with several
    queries has one per line (text) or a JSON array.
    """

    def __init__(self, directory: Path, roots: list[Path]):
        self.directory = directory
        self.roots = [(r.resolve(), r.is_dir()) for r in roots]
        self._seen: dict[str, int] = {}

    def relative(self, path: Path) -> Path:
        resolved = path.resolve()
        for root, is_dir in self.roots:
            if is_dir and resolved.is_relative_to(root):
                return Path(root.name) / resolved.relative_to(root)
        return Path(path.name)

    def write(self, result: RuleResult) -> None:
        if not result.ok:
            return
        count = self._seen.get(result.path, 0) + 1
        self._seen[result.path] = count
        relative = self.relative(Path(result.path))
        structured = any(not isinstance(q, str) for q in result.queries)
        stem = relative.stem if count == 1 else f"{relative.stem}-{count}"
        target = self.directory / relative.parent / (stem + (".json" if structured else ".txt"))
        target.parent.mkdir(parents=True, exist_ok=True)
        if structured:
            content = json.dumps(result.queries[0] if len(result.queries) == 1 else result.queries,
                                 ensure_ascii=False, indent=2)
        else:
            content = "\n".join(result.queries)
        target.write_text(content + "\n", encoding="utf-8")
