"""Build the compact ATT&CK data from an enterprise-attack STIX 2.x bundle (MITRE's attack-stix-data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sigma_es_backend.attack.model import AttackData, Tactic, Technique, tactic_reference, technique_reference

# Tactics renamed in place (same id, new shortname): the old shortname stays a valid Sigma tag.
# ATT&CK v19 renamed TA0005 "Defense Evasion" to "Stealth" and moved part of it to TA0112.
RENAMED_TACTIC_SHORTNAMES = {"defense-evasion": "TA0005"}


class StixBundleError(ValueError):
    """The file is not an enterprise-attack STIX bundle we can read."""


def _attack_id(obj: dict[str, Any]) -> str | None:
    for ref in obj.get("external_references", ()):
        if ref.get("source_name") == "mitre-attack" and ref.get("external_id"):
            return str(ref["external_id"])
    return None


def data_from_stix(bundle: dict[str, Any], source: str = "") -> AttackData:
    """Tactics in matrix order, every technique (deprecated and revoked ones flagged), revoked-by links."""
    if not isinstance(bundle, dict) or not isinstance(bundle.get("objects"), list):
        raise StixBundleError("not a STIX bundle: no 'objects' list")
    objects = bundle["objects"]
    by_stix_id = {o.get("id"): o for o in objects if isinstance(o, dict)}

    tactic_objects = [o for o in objects if o.get("type") == "x-mitre-tactic"
                      and not o.get("revoked") and not o.get("x_mitre_deprecated")]
    if not tactic_objects:
        raise StixBundleError("no x-mitre-tactic objects")
    matrices = [o for o in objects if o.get("type") == "x-mitre-matrix" and not o.get("revoked")]
    order = [ref for m in matrices for ref in m.get("tactic_refs", ())]
    tactic_objects.sort(key=lambda o: order.index(o["id"]) if o["id"] in order else len(order))
    tactics = []
    for obj in tactic_objects:
        tactic_id = _attack_id(obj)
        if tactic_id is None or not obj.get("x_mitre_shortname"):
            raise StixBundleError(f"tactic {obj.get('id')} has no ATT&CK id or shortname")
        tactics.append(Tactic(tactic_id, obj["name"], obj["x_mitre_shortname"], tactic_reference(tactic_id)))
    by_short = {t.shortname: t for t in tactics}
    aliases = {old: tid for old, tid in RENAMED_TACTIC_SHORTNAMES.items()
               if old not in by_short and any(t.id == tid for t in tactics)}
    for old, tid in aliases.items():
        by_short[old] = next(t for t in tactics if t.id == tid)

    revoked_by: dict[str, str] = {}
    for obj in objects:
        if obj.get("type") == "relationship" and obj.get("relationship_type") == "revoked-by":
            target = by_stix_id.get(obj.get("target_ref"))
            if target is not None and _attack_id(target):
                revoked_by[obj["source_ref"]] = _attack_id(target)

    techniques: dict[str, Technique] = {}
    for obj in objects:
        if obj.get("type") != "attack-pattern":
            continue
        technique_id = _attack_id(obj)
        if technique_id is None or not technique_id.startswith("T"):
            continue
        retired = bool(obj.get("revoked") or obj.get("x_mitre_deprecated"))
        # A retired technique is in no column of the current matrix (as in Navigator): no tactics; a revoked
        # one is counted as its replacement.
        phases = [] if retired else [
            p["phase_name"] for p in obj.get("kill_chain_phases", ())
            if p.get("kill_chain_name") == "mitre-attack" and p.get("phase_name") in by_short]
        techniques[technique_id] = Technique(
            id=technique_id, name=obj["name"], reference=technique_reference(technique_id),
            tactics=tuple(dict.fromkeys(by_short[p] for p in phases)),
            parent=technique_id.split(".")[0] if "." in technique_id else None,
            deprecated=bool(obj.get("x_mitre_deprecated", False)),
            revoked_by=revoked_by.get(obj["id"]) if obj.get("revoked") else None)
    if not techniques:
        raise StixBundleError("no attack-pattern objects with an ATT&CK id")

    collections = [o for o in objects if o.get("type") == "x-mitre-collection"]
    version = str(collections[0].get("x_mitre_version")) if collections else "unknown"
    return AttackData(
        version=version,
        description=f"Enterprise ATT&CK {version}, built from the STIX bundle {source or '(unnamed)'}",
        tactics=tuple(tactics), techniques=techniques, tactic_aliases=aliases,
        source={"stix_bundle": source, "bundle_id": bundle.get("id")})


def data_from_stix_file(path: Path) -> AttackData:
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise StixBundleError(f"cannot read STIX bundle {path}: {error}") from error
    return data_from_stix(bundle, source=path.name)
