"""SigmaHQ regression samples: `info.yml` (rule id, tests with path + match_count) beside `.evtx`/`.json`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class SampleTest:
    name: str
    path: Path | None  # None: the declared file is missing
    declared_path: str
    match_count: int


@dataclass(frozen=True)
class SampleSet:
    info: Path
    rule_ids: tuple[str, ...]
    tests: tuple[SampleTest, ...]


def _resolve(declared: str, info: Path, root: Path) -> Path | None:
    """`path` in info.yml is relative to the Sigma repository (regression_data/…); accept a samples root
    given as that repository, as its regression_data directory, or just the file beside info.yml."""
    relative = Path(declared)
    candidates = [root / relative, root.parent / relative, info.parent / relative.name]
    if relative.suffix.lower() == ".evtx":  # no EVTX beside it: its JSON export holds the same events
        candidates.append(info.parent / relative.with_suffix(".json").name)
    return next((c for c in candidates if c.is_file()), None)


def load_sample_set(info: Path, root: Path) -> SampleSet:
    data = yaml.load(info.read_text(encoding="utf-8"), Loader=_LOADER) or {}
    rule_ids = tuple(str(m["id"]) for m in data.get("rule_metadata") or [] if m.get("id"))
    tests = []
    for index, test in enumerate(data.get("regression_tests_info") or [], 1):
        declared = str(test.get("path", ""))
        count = test.get("match_count")
        tests.append(SampleTest(str(test.get("name") or f"test {index}"),
                                _resolve(declared, info, root) if declared else None, declared,
                                1 if count is None else int(count)))
    return SampleSet(info, rule_ids, tuple(tests))


def index_samples(root: Path) -> dict[str, SampleSet]:
    """Rule id → its sample set, for every info.yml under `root`."""
    table: dict[str, SampleSet] = {}
    for info in sorted(root.rglob("info.yml")):
        sample_set = load_sample_set(info, root)
        for rule_id in sample_set.rule_ids:
            table[rule_id] = sample_set
    return table
