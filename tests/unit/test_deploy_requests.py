"""Deploy requests as the APIs document them, the HTTP client's retry policy, and the CLI's surface.

Kibana (detection engine API 2023-10-31): `POST /api/detection_engine/rules/_import?overwrite=` with a
multipart `file` field holding NDJSON, `GET …/rules/_find` (page, per_page, KQL filter),
`POST …/rules/_bulk_action` `{action: delete, ids}`; headers `kbn-xsrf` and `elastic-api-version`;
spaces as `/s/<space>/api/…`. Alerting: `POST/PUT/DELETE _plugins/_alerting/monitors[/<id>]`,
`POST …/monitors/_search`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from sigma_es_backend.cli import cli
from sigma_es_backend.connection import Connection
from sigma_es_backend.deploy.client import DeployError, HttpClient, Request
from sigma_es_backend.deploy.kibana import KibanaRules
from sigma_es_backend.deploy.opensearch_alerting import AlertingMonitors
from sigma_es_backend.deploy.sync import desired_objects

RULE = """
title: Whoami Execution
id: 0c8a4a3e-3b5a-4d5e-9a43-0b0f3d3c1e01
description: Detects whoami.
logsource: {product: windows, category: process_creation}
detection:
  selection:
    Image|endswith: '\\whoami.exe'
  condition: selection
level: high
"""


def test_kibana_import_request() -> None:
    request = KibanaRules().import_request([{"rule_id": "a"}, {"rule_id": "b"}], overwrite=True)
    assert (request.method, request.path, request.params) == (
        "POST", "/api/detection_engine/rules/_import", {"overwrite": "true"})
    assert request.headers == {"kbn-xsrf": "true", "elastic-api-version": "2023-10-31"}
    name, content, mime = request.files["file"]
    assert name.endswith(".ndjson") and mime == "application/ndjson"
    assert content.decode().splitlines() == ['{"rule_id":"a"}', '{"rule_id":"b"}']
    assert KibanaRules().import_request([], overwrite=False).params == {"overwrite": "false"}


def test_kibana_find_and_delete_requests_in_a_space() -> None:
    rules = KibanaRules(space="soc")
    find = rules.find_request(2)
    assert (find.method, find.path) == ("GET", "/s/soc/api/detection_engine/rules/_find")
    assert find.params == {"page": "2", "per_page": "100", "filter": 'alert.attributes.tags:"sigma-es"'}
    delete = rules.bulk_delete_request(["id1"])
    assert (delete.method, delete.path, delete.json) == (
        "POST", "/s/soc/api/detection_engine/rules/_bulk_action", {"action": "delete", "ids": ["id1"]})
    assert KibanaRules(space="default").find_request(1).path == "/api/detection_engine/rules/_find"


def test_kibana_existing_rule_marker_and_hash() -> None:
    ours = KibanaRules.existing_object({"id": "so1", "rule_id": "r", "name": "n",
                                        "meta": {"managed_by": "sigma-es", "sigma_es_hash": "h"}})
    theirs = KibanaRules.existing_object({"id": "so2", "rule_id": "x", "name": "m"})
    assert (ours.key, ours.remote_id, ours.hash, ours.managed) == ("r", "so1", "h", True)
    assert theirs.managed is False


def test_alerting_requests() -> None:
    m = AlertingMonitors()
    assert (m.create_request({}).method, m.create_request({}).path, m.create_request({}).idempotent) == (
        "POST", "/_plugins/_alerting/monitors", False)
    assert (m.update_request("x", {}).method, m.update_request("x", {}).path) == ("PUT", "/_plugins/_alerting/monitors/x")
    assert (m.delete_request("x").method, m.delete_request("x").path) == ("DELETE", "/_plugins/_alerting/monitors/x")
    assert m.search_request(0).path == "/_plugins/_alerting/monitors/_search"


def test_alerting_existing_monitor_marker() -> None:
    hit = {"_id": "m1", "_source": {"monitor": {"type": "monitor", "name": "n",
                                                 "ui_metadata": {"sigma_es": {"managed_by": "sigma-es",
                                                                              "rule_id": "r", "hash": "h"}}}}}
    obj = AlertingMonitors.existing_object(hit)
    assert (obj.key, obj.remote_id, obj.hash, obj.managed) == ("r", "m1", "h", True)
    assert AlertingMonitors.existing_object({"_id": "w", "_source": {"workflow": {"type": "workflow"}}}) is None
    assert AlertingMonitors.existing_object({"_id": "u", "_source": {"type": "monitor", "name": "x"}}).managed is False


def test_desired_objects_come_from_the_formats(tmp_path) -> None:
    (tmp_path / "r.yml").write_text(RULE)
    (tmp_path / "bad.yml").write_text(RULE.replace("0c8a4a3e-3b5a-4d5e-9a43-0b0f3d3c1e01",
                                                   "11111111-1111-1111-1111-111111111111")
                                      .replace("category: process_creation", "category: nothing_maps_this"))
    desired = desired_objects(KibanaRules(), [tmp_path])
    (obj,) = desired.objects
    assert (obj.key, obj.name, obj.hash) == ("0c8a4a3e-3b5a-4d5e-9a43-0b0f3d3c1e01", "Whoami Execution",
                                             obj.body["meta"]["sigma_es_hash"])
    (failure,) = desired.failures
    assert failure.stage == "convert" and failure.path.endswith("bad.yml")
    assert desired.keep == {"11111111-1111-1111-1111-111111111111"}


# --- HTTP client: retry policy, against a local HTTP endpoint that answers as told ----------------------
class _Scripted(BaseHTTPRequestHandler):
    script: list[int] = []
    seen: list[tuple[str, str | None]] = []

    def _answer(self) -> None:
        _Scripted.seen.append((self.command, self.headers.get("Authorization")))
        status = _Scripted.script.pop(0) if _Scripted.script else 200
        body = json.dumps({"error": {"reason": "busy"}} if status >= 400 else {"ok": True}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Scripted.seen, _Scripted.script = [], []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _client(url: str, **connection) -> tuple[HttpClient, list[float]]:
    waits: list[float] = []
    return HttpClient(Connection(url, **connection), retries=3, backoff=0.5, sleep=waits.append), waits


def test_429_is_retried_with_backoff_for_any_method(endpoint: str) -> None:
    _Scripted.script = [429, 429]
    client, waits = _client(endpoint)
    assert client.send(Request("POST", "/x", json={})) == {"ok": True}
    assert waits == [0.5, 1.0]


def test_5xx_is_retried_only_for_idempotent_requests(endpoint: str) -> None:
    _Scripted.script = [503]
    client, waits = _client(endpoint)
    assert client.send(Request("PUT", "/x", json={}, idempotent=True)) == {"ok": True}
    _Scripted.script = [503]
    with pytest.raises(DeployError, match=r"POST /x: HTTP 503: busy"):
        client.send(Request("POST", "/x", json={}))
    assert waits == [0.5]


def test_retries_give_up_with_the_reason(endpoint: str) -> None:
    _Scripted.script = [429] * 10
    client, waits = _client(endpoint)
    with pytest.raises(DeployError, match="HTTP 429"):
        client.send(Request("GET", "/x", idempotent=True))
    assert len(waits) == 3


def test_credentials_are_sent_but_never_shown(endpoint: str) -> None:
    client, _ = _client(endpoint, api_key="c2VjcmV0OmtleQ==")
    client.send(Request("GET", "/x", idempotent=True))
    assert _Scripted.seen[-1] == ("GET", "ApiKey c2VjcmV0OmtleQ==")
    basic = Connection(endpoint, username="u", password="hunter2")
    assert "hunter2" not in repr(basic) and "hunter2" not in repr(HttpClient(basic))
    assert "c2VjcmV0" not in repr(client.connection)


def test_tls_verification_is_on_by_default() -> None:
    assert HttpClient(Connection("https://x")).session.verify is True
    assert HttpClient(Connection("https://x", ca_cert="/ca.pem")).session.verify == "/ca.pem"
    assert HttpClient(Connection.from_options("https://x", insecure=True)).session.verify is False


# --- CLI ----------------------------------------------------------------------------------------------
def test_deploy_needs_a_url(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("SIGMA_ES_KIBANA_URL", raising=False)
    (tmp_path / "r.yml").write_text(RULE)
    result = CliRunner().invoke(cli, ["deploy", "--to", "kibana", str(tmp_path)])
    assert result.exit_code == 2 and "--url is required (or set SIGMA_ES_KIBANA_URL)" in result.output


def test_deploy_to_security_analytics_says_it_is_not_implemented(tmp_path) -> None:
    (tmp_path / "r.yml").write_text(RULE)
    result = CliRunner().invoke(cli, ["deploy", "--to", "opensearch-sa", "--url", "http://127.0.0.1:9", str(tmp_path)])
    assert result.exit_code == 1 and "'opensearch-sa' is not implemented" in result.output


def test_connection_errors_do_not_leak_credentials_in_the_url() -> None:
    client = HttpClient(Connection("http://admin:s3cret@127.0.0.1:9"), retries=0)
    with pytest.raises(DeployError) as caught:
        client.send(Request("GET", "/", idempotent=True))
    assert "s3cret" not in str(caught.value) and "GET /" in str(caught.value)


def test_plan_table_lists_every_action_and_the_counts() -> None:
    from sigma_es_backend.deploy.plan import Desired, Existing, make_plan
    from sigma_es_backend.deploy.sync import plan_table

    plan = make_plan([Desired("r1", "New rule", {}, "h"), Desired("r2", "Same rule", {}, "h")],
                     [Existing("r2", "m2", "Same rule", "h", True), Existing("r3", "m3", "Old rule", "h", True)],
                     prune=True)
    assert plan_table(plan).splitlines() == [
        "ACTION     RULE ID  NAME",
        "create     r1       New rule",
        "unchanged  r2       Same rule",
        "delete     r3       Old rule",
        "plan: 1 create, 0 update, 1 unchanged, 1 delete, 0 conflict",
    ]
