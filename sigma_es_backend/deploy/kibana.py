"""Kibana detection engine rules (API version 2023-10-31): find ours, import (upsert by rule_id), delete.

Requests are built as data (`Request`) so unit tests check them against the documented API; the
client only sends them. Spaces: every path is prefixed with `/s/<space>` outside the default space.
"""

from __future__ import annotations

import json
from typing import Any

from sigma_es_backend.deploy.client import DeployError, HttpClient, Request
from sigma_es_backend.deploy.plan import Action, Existing
from sigma_es_backend.outputs.context import MANAGED_BY
from sigma_es_backend.outputs.kibana import HASH_KEY

RULES_PATH = "/api/detection_engine/rules"
API_HEADERS = {"kbn-xsrf": "true", "elastic-api-version": "2023-10-31"}
IMPORT_CHUNK = 500  # well below Kibana's default import limit (savedObjects.maxImportExportSize 10,000)
DELETE_CHUNK = 500
PAGE_SIZE = 100


class KibanaRules:
    """One resource: the detection engine's rules in one space."""

    format = "kibana_ndjson"
    default_query_target = "es_lucene"

    def __init__(self, space: str | None = None):
        self.prefix = f"/s/{space}" if space and space != "default" else ""

    # --- requests (pure) ---------------------------------------------------------------------------
    def find_request(self, page: int) -> Request:
        return Request("GET", f"{self.prefix}{RULES_PATH}/_find", headers=dict(API_HEADERS), idempotent=True,
                       params={"page": str(page), "per_page": str(PAGE_SIZE),
                               "filter": f'alert.attributes.tags:"{MANAGED_BY}"'})

    def import_request(self, rules: list[dict[str, Any]], overwrite: bool) -> Request:
        ndjson = "".join(json.dumps(rule, separators=(",", ":"), ensure_ascii=False) + "\n" for rule in rules)
        # Import is an upsert keyed by rule_id (overwrite=true) or a create that reports conflicts
        # (overwrite=false): repeating it changes nothing more, so it may be retried.
        return Request("POST", f"{self.prefix}{RULES_PATH}/_import", headers=dict(API_HEADERS),
                       params={"overwrite": "true" if overwrite else "false"},
                       files={"file": ("rules.ndjson", ndjson.encode("utf-8"), "application/ndjson")},
                       idempotent=True)

    def bulk_delete_request(self, ids: list[str]) -> Request:
        return Request("POST", f"{self.prefix}{RULES_PATH}/_bulk_action", headers=dict(API_HEADERS),
                       json={"action": "delete", "ids": ids}, idempotent=True)

    # --- state -------------------------------------------------------------------------------------
    @staticmethod
    def describe(body: dict[str, Any]) -> tuple[str, str, str]:
        return body["rule_id"], body["name"], body["meta"][HASH_KEY]

    @staticmethod
    def existing_object(rule: dict[str, Any]) -> Existing:
        meta = rule.get("meta") or {}
        return Existing(rule.get("rule_id"), rule["id"], rule.get("name", ""), meta.get(HASH_KEY),
                        managed=meta.get("managed_by") == MANAGED_BY)

    def existing(self, client: HttpClient) -> list[Existing]:
        found: list[Existing] = []
        page = 1
        while True:
            response = client.send(self.find_request(page)) or {}
            rules = response.get("data", [])
            found.extend(self.existing_object(r) for r in rules)
            if not rules or page * PAGE_SIZE >= int(response.get("total", 0)):
                return found
            page += 1

    # --- apply -------------------------------------------------------------------------------------
    def apply(self, client: HttpClient, actions: list[Action]) -> list[tuple[Action, str | None]]:
        results: list[tuple[Action, str | None]] = []
        for kind, overwrite in (("create", False), ("update", True)):
            batch = [a for a in actions if a.kind == kind]
            for start in range(0, len(batch), IMPORT_CHUNK):
                chunk = batch[start:start + IMPORT_CHUNK]
                try:
                    response = client.send(self.import_request([a.body or {} for a in chunk], overwrite)) or {}
                except DeployError as error:
                    results.extend((a, str(error)) for a in chunk)
                    continue
                errors = {e.get("rule_id"): (e.get("error") or {}).get("message", str(e))
                          for e in response.get("errors", [])}
                results.extend((a, errors.get(a.key)) for a in chunk)
        deletes = [a for a in actions if a.kind == "delete"]
        for start in range(0, len(deletes), DELETE_CHUNK):
            chunk = deletes[start:start + DELETE_CHUNK]
            try:
                client.send(self.bulk_delete_request([a.remote_id or "" for a in chunk]))
                results.extend((a, None) for a in chunk)
            except DeployError as error:
                results.extend((a, str(error)) for a in chunk)
        return results
