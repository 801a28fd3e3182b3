"""OpenSearch Alerting monitors: find ours (ui_metadata marker), create, update in place, delete.

Alerting has no bulk or upsert API for monitors: one request per monitor. A create that timed out may
still have happened, so creates are never retried; the next run finds the duplicate and removes it.
"""

from __future__ import annotations

from typing import Any

from sigma_es_backend.deploy.client import DeployError, HttpClient, Request
from sigma_es_backend.deploy.plan import Action, Existing
from sigma_es_backend.outputs.context import MANAGED_BY
from sigma_es_backend.outputs.opensearch import METADATA_KEY

MONITORS_PATH = "/_plugins/_alerting/monitors"
ALERTING_COMPONENT = "opensearch-alerting"
PAGE_SIZE = 500


class AlertingMonitors:
    format = "opensearch_monitor"
    default_query_target = "es_dsl"

    # --- requests (pure) ---------------------------------------------------------------------------
    @staticmethod
    def plugins_request() -> Request:
        return Request("GET", "/_cat/plugins", params={"format": "json"}, idempotent=True)

    @staticmethod
    def search_request(start: int) -> Request:
        return Request("POST", f"{MONITORS_PATH}/_search", idempotent=True,
                       json={"from": start, "size": PAGE_SIZE, "query": {"match_all": {}}})

    @staticmethod
    def create_request(body: dict[str, Any]) -> Request:
        return Request("POST", MONITORS_PATH, json=body)

    @staticmethod
    def update_request(monitor_id: str, body: dict[str, Any]) -> Request:
        return Request("PUT", f"{MONITORS_PATH}/{monitor_id}", json=body, idempotent=True)

    @staticmethod
    def delete_request(monitor_id: str) -> Request:
        return Request("DELETE", f"{MONITORS_PATH}/{monitor_id}", idempotent=True)

    # --- state -------------------------------------------------------------------------------------
    @staticmethod
    def describe(body: dict[str, Any]) -> tuple[str, str, str]:
        meta = body["ui_metadata"][METADATA_KEY]
        return meta["rule_id"], body["name"], meta["hash"]

    @staticmethod
    def existing_object(hit: dict[str, Any]) -> Existing | None:
        source = hit.get("_source") or {}
        monitor = source.get("monitor", source)  # scheduled-jobs documents wrap the monitor
        if monitor.get("type") != "monitor":
            return None  # workflows and other jobs
        meta = (monitor.get("ui_metadata") or {}).get(METADATA_KEY) or {}
        return Existing(meta.get("rule_id"), hit["_id"], monitor.get("name", ""), meta.get("hash"),
                        managed=meta.get("managed_by") == MANAGED_BY)

    def check_plugin(self, client: HttpClient) -> None:
        components = {p.get("component") for p in client.send(self.plugins_request()) or []}
        if ALERTING_COMPONENT not in components:
            raise DeployError(f"the Alerting plugin ({ALERTING_COMPONENT}) is not installed on "
                              f"{client.connection.url} (plugins: {', '.join(sorted(c for c in components if c)) or 'none'})")

    def existing(self, client: HttpClient) -> list[Existing]:
        self.check_plugin(client)
        found: list[Existing] = []
        start = 0
        while True:
            try:
                response = client.send(self.search_request(start)) or {}
            except DeployError as error:
                if error.status == 404:  # no monitor was ever created: the jobs index does not exist yet
                    return found
                raise
            hits = response.get("hits", {}).get("hits", [])
            found.extend(obj for obj in map(self.existing_object, hits) if obj is not None)
            if len(hits) < PAGE_SIZE:
                return found
            start += PAGE_SIZE

    # --- apply -------------------------------------------------------------------------------------
    def apply(self, client: HttpClient, actions: list[Action]) -> list[tuple[Action, str | None]]:
        results: list[tuple[Action, str | None]] = []
        for action in actions:
            try:
                if action.kind == "create":
                    client.send(self.create_request(action.body or {}))
                elif action.kind == "update":
                    client.send(self.update_request(action.remote_id or "", action.body or {}))
                elif action.kind == "delete":
                    try:
                        client.send(self.delete_request(action.remote_id or ""))
                    except DeployError as error:
                        if error.status != 404:  # already gone: the goal is met
                            raise
                results.append((action, None))
            except DeployError as error:
                results.append((action, str(error)))
        return results
