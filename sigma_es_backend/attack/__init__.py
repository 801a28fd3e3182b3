"""MITRE ATT&CK lookups from data bundled in the package (no network): tactics, techniques, Sigma tags.

The data file is `data/enterprise-attack.json` (compact form of MITRE's enterprise-attack STIX bundle,
see `data/README.md` for its source and licence). `SIGMA_ES_ATTACK_DATA=FILE` points to another file of the
same format, e.g. one written by `sigma-es attack refresh --stix enterprise-attack.json --output FILE`.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable
from pathlib import Path

from sigma_es_backend.attack.model import AttackData, Tactic, Technique
from sigma_es_backend.attack.tags import AttackTags, TacticGroup, TechniqueGroup, tag_text
from sigma_es_backend.attack.tags import parse_tags as _parse_tags

BUNDLED_DATA = Path(__file__).parent / "data" / "enterprise-attack.json"
DATA_ENV = "SIGMA_ES_ATTACK_DATA"

__all__ = ["AttackData", "AttackTags", "BUNDLED_DATA", "Tactic", "TacticGroup", "Technique", "TechniqueGroup",
           "attack_version", "current", "data", "data_path", "data_version", "parse_tags", "reload", "tactic", "tactics",
           "tag_text", "technique", "techniques"]


def data_path() -> Path:
    return Path(os.environ[DATA_ENV]) if os.environ.get(DATA_ENV) else BUNDLED_DATA


@functools.cache
def data() -> AttackData:
    path = data_path()
    return AttackData.from_json(json.loads(path.read_text(encoding="utf-8")))


def reload() -> None:
    """Forget the loaded data (after a refresh, or when SIGMA_ES_ATTACK_DATA changed)."""
    data.cache_clear()


def technique(tid: str) -> Technique | None:
    """"T1059.001" (any case) → Technique, or None when the id is not in the data."""
    return data().technique(tid)


def tactic(key: str) -> Tactic | None:
    """By id ("TA0002") or Sigma tag shortname ("execution", "defense-evasion", "defense_evasion")."""
    return data().tactic(key)


def tactics() -> tuple[Tactic, ...]:
    """All tactics in matrix order."""
    return data().tactics


def techniques() -> tuple[Technique, ...]:
    return tuple(data().techniques.values())


def current(technique: Technique) -> Technique:
    """Follow MITRE's revoked-by links to the technique that replaces a revoked one (itself when not revoked,
    or when the chain leaves the data). A retired technique without replacement has no tactics."""
    seen = {technique.id}
    while technique.revoked_by:
        replacement = data().technique(technique.revoked_by)
        if replacement is None or replacement.id in seen:
            break
        seen.add(replacement.id)
        technique = replacement
    return technique


def parse_tags(tags: Iterable[object]) -> AttackTags:
    """Sigma tags (strings or SigmaRuleTag) → tactics, techniques, other ATT&CK ids and unknown attack.* tags."""
    return _parse_tags(tags, data())


def attack_version() -> str:
    """The ATT&CK release the data follows ("19"), as Navigator layers and Kibana want it."""
    return data().version


def data_version() -> str:
    """One line naming the data: release and where it came from."""
    d = data()
    return f"enterprise-attack {d.version} ({d.description})"
