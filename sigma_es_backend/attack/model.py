"""ATT&CK data model: typed tactics and techniques, and the compact JSON format they are stored in."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Version of the compact data format below (not of ATT&CK); bump on incompatible change.
DATA_FORMAT = 1
ATTACK_URL = "https://attack.mitre.org"


@dataclass(frozen=True)
class Tactic:
    id: str  # "TA0002"
    name: str  # "Execution"
    shortname: str  # "execution" (STIX x_mitre_shortname, the Sigma tag name)
    reference: str  # "https://attack.mitre.org/tactics/TA0002/"


@dataclass(frozen=True)
class Technique:
    id: str  # "T1059.001"
    name: str  # "PowerShell"
    reference: str  # "https://attack.mitre.org/techniques/T1059/001/"
    tactics: tuple[Tactic, ...]
    parent: str | None = None  # "T1059" for a sub-technique
    deprecated: bool = False
    revoked_by: str | None = None  # id of the technique that replaces a revoked one

    @property
    def is_subtechnique(self) -> bool:
        return self.parent is not None


def tactic_reference(tactic_id: str) -> str:
    return f"{ATTACK_URL}/tactics/{tactic_id}/"


def technique_reference(technique_id: str) -> str:
    return f"{ATTACK_URL}/techniques/{technique_id.replace('.', '/')}/"


@dataclass
class AttackData:
    """Everything loaded from one compact data file; lookups are by id or tactic shortname/alias."""

    version: str  # ATT&CK release the data follows, e.g. "19"
    description: str  # where the data came from, how complete it is
    tactics: tuple[Tactic, ...]  # in matrix order
    techniques: dict[str, Technique]
    tactic_aliases: dict[str, str] = field(default_factory=dict)  # old shortname -> tactic id
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._tactic_index: dict[str, Tactic] = {}
        for tactic in self.tactics:
            self._tactic_index[tactic.id.upper()] = tactic
            self._tactic_index[tactic.shortname] = tactic
        by_id = {t.id: t for t in self.tactics}
        for alias, tactic_id in self.tactic_aliases.items():
            self._tactic_index.setdefault(alias, by_id[tactic_id])

    def tactic(self, key: str) -> Tactic | None:
        """By id ("TA0002") or shortname in Sigma tag spelling ("defense-evasion" or "defense_evasion")."""
        normalized = key.strip()
        if normalized.upper().startswith("TA") and normalized[2:].isdigit():
            return self._tactic_index.get(normalized.upper())
        return self._tactic_index.get(normalized.lower().replace("_", "-").replace(" ", "-"))

    def technique(self, technique_id: str) -> Technique | None:
        return self.techniques.get(technique_id.strip().upper())

    # -- compact JSON --------------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, document: dict[str, Any]) -> AttackData:
        if document.get("format") != DATA_FORMAT:
            raise ValueError(f"ATT&CK data format {document.get('format')!r} is not {DATA_FORMAT}")
        tactics = tuple(Tactic(t["id"], t["name"], t["shortname"], tactic_reference(t["id"]))
                        for t in document["tactics"])
        by_short = {t.shortname: t for t in tactics}
        aliases = dict(document.get("tactic_aliases", {}))
        for alias, tactic_id in aliases.items():
            by_short.setdefault(alias, next(t for t in tactics if t.id == tactic_id))
        techniques = {}
        for t in document["techniques"]:
            techniques[t["id"]] = Technique(
                id=t["id"], name=t["name"], reference=technique_reference(t["id"]),
                tactics=tuple(by_short[s] for s in t.get("tactics", ())),
                parent=t["id"].split(".")[0] if "." in t["id"] else None,
                deprecated=bool(t.get("deprecated", False)), revoked_by=t.get("revoked_by"))
        return cls(version=document["attack_version"], description=document.get("description", ""),
                   tactics=tactics, techniques=techniques, tactic_aliases=aliases,
                   source=document.get("source", {}))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": DATA_FORMAT,
            "attack_version": self.version,
            "description": self.description,
            "source": self.source,
            "tactics": [{"id": t.id, "name": t.name, "shortname": t.shortname} for t in self.tactics],
            "tactic_aliases": dict(sorted(self.tactic_aliases.items())),
            "techniques": [
                {"id": t.id, "name": t.name, "tactics": [x.shortname for x in t.tactics],
                 **({"deprecated": True} if t.deprecated else {}),
                 **({"revoked_by": t.revoked_by} if t.revoked_by else {})}
                for t in sorted(self.techniques.values(), key=lambda t: _technique_sort_key(t.id))],
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One tactic / technique per line: small, and reviewable as a diff after a refresh.
        lines = ["{"]
        items = list(self.to_json().items())
        for index, (key, value) in enumerate(items):
            comma = "," if index < len(items) - 1 else ""
            if isinstance(value, list) and value:
                rows = [json.dumps(v, ensure_ascii=False) for v in value]
                lines.append(f" {json.dumps(key)}: [\n  " + ",\n  ".join(rows) + f"\n ]{comma}")
            else:
                lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
        lines.append("}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _technique_sort_key(technique_id: str) -> tuple[int, int]:
    main, _, sub = technique_id[1:].partition(".")
    return int(main), int(sub or 0)
