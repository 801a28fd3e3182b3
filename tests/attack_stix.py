"""ATT&CK data written back as the STIX 2.1 objects of a MITRE enterprise-attack bundle (matrix, tactics,
techniques with their kill chain phases, revoked-by relationships, collection version): what MITRE's
exporters and `sigma-es attack refresh --stix` read."""

from __future__ import annotations

import uuid
from typing import Any

from sigma_es_backend.attack import AttackData

CREATED = "2026-04-14T00:00:00.000Z"


def stix_id(kind: str, key: str) -> str:
    return f"{kind}--{uuid.uuid5(uuid.NAMESPACE_URL, key)}"


def _object(kind: str, key: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "id": stix_id(kind, key), "spec_version": "2.1", "created": CREATED, "modified": CREATED,
            "name": name, "description": "",
            "external_references": [{"source_name": "mitre-attack", "external_id": key}], **fields}


def stix_objects(data: AttackData) -> list[dict[str, Any]]:
    objects = [_object("x-mitre-collection", "enterprise-attack-collection", "Enterprise ATT&CK",
                       x_mitre_version=data.version)]
    objects += [_object("x-mitre-tactic", t.id, t.name, x_mitre_shortname=t.shortname) for t in data.tactics]
    objects.append(_object("x-mitre-matrix", "enterprise-attack", "Enterprise ATT&CK",
                           tactic_refs=[stix_id("x-mitre-tactic", t.id) for t in data.tactics]))
    for t in data.techniques.values():
        fields: dict[str, Any] = {
            "x_mitre_platforms": ["Windows"], "x_mitre_is_subtechnique": t.parent is not None,
            "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": x.shortname} for x in t.tactics]}
        if t.deprecated:
            fields["x_mitre_deprecated"] = True
        if t.revoked_by:
            fields["revoked"] = True
            objects.append({"type": "relationship", "id": stix_id("relationship", f"{t.id}->{t.revoked_by}"),
                            "spec_version": "2.1", "created": CREATED, "modified": CREATED,
                            "relationship_type": "revoked-by", "source_ref": stix_id("attack-pattern", t.id),
                            "target_ref": stix_id("attack-pattern", t.revoked_by)})
        objects.append(_object("attack-pattern", t.id, t.name, **fields))
    return objects


def stix_bundle(data: AttackData) -> dict[str, Any]:
    return {"type": "bundle", "id": stix_id("bundle", f"enterprise-attack-{data.version}"),
            "objects": stix_objects(data)}
