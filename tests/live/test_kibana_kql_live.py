"""es_kql through a real Kibana and Elasticsearch (docker-compose.yml), when SIGMA_ES_KIBANA_URL and
SIGMA_ES_ELASTICSEARCH_URL are set (credentials: SIGMA_ES_USERNAME/SIGMA_ES_PASSWORD or SIGMA_ES_API_KEY,
SIGMA_ES_CA_CERT). No Kibana runs on the reference machine: there these tests are skipped and the KQL
proof is tests/live/test_kql_live.py (Kibana's grammar and translation reimplemented, run on OpenSearch).

- The Discover saved objects import into Kibana and keep the query.
- Kibana's detection engine runs the seed rule's KQL (rule preview, the server-side KQL → Query DSL of
  @kbn/es-query) on the seed events in Elasticsearch: the alerts are exactly the events Sigma matches.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import ssl
import time
import urllib.request
import uuid
from typing import Any

import pytest
from sigma.collection import SigmaCollection

from sigma_es_backend.backends import KqlBackend
from sigma_es_backend.events.templates import ecs_index_body
from tests.live.test_kql_live import DEFEND_CASELESS, with_capabilities
from tests.seed_events import SEED_EVENTS, SEED_EXPECTED_MATCHES

KIBANA = os.environ.get("SIGMA_ES_KIBANA_URL", "").rstrip("/")
ELASTICSEARCH = os.environ.get("SIGMA_ES_ELASTICSEARCH_URL", "").rstrip("/")
pytestmark = [pytest.mark.live, pytest.mark.skipif(
    not (KIBANA and ELASTICSEARCH), reason="SIGMA_ES_KIBANA_URL and SIGMA_ES_ELASTICSEARCH_URL not set")]
API_VERSION = "2023-10-31"


def _headers() -> dict[str, str]:
    headers = {"kbn-xsrf": "true", "elastic-api-version": API_VERSION}
    if os.environ.get("SIGMA_ES_API_KEY"):
        headers["Authorization"] = "ApiKey " + os.environ["SIGMA_ES_API_KEY"]
    elif os.environ.get("SIGMA_ES_USERNAME"):
        token = f"{os.environ['SIGMA_ES_USERNAME']}:{os.environ.get('SIGMA_ES_PASSWORD', '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
    return headers


def _call(method: str, url: str, body: bytes | None = None, content_type: str = "application/json") -> Any:
    context = ssl.create_default_context(cafile=os.environ.get("SIGMA_ES_CA_CERT"))
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={**_headers(), **({"Content-Type": content_type} if body else {})})
    with urllib.request.urlopen(request, context=context, timeout=60) as response:  # noqa: S310 - test URLs
        text = response.read().decode()
    return json.loads(text) if text else None


def _json(method: str, url: str, payload: Any = None) -> Any:
    return _call(method, url, json.dumps(payload).encode() if payload is not None else None)


def seed_query() -> tuple[str, list[str]]:
    """The seed rule as KQL and as Discover saved objects, with Elastic Defend's lowercase subfields."""
    from tests.conftest import SHARED

    pipeline, _ = with_capabilities(DEFEND_CASELESS)
    text = (SHARED / "docs" / "seed-rule.yml").read_text()
    (query,) = KqlBackend(pipeline).convert(SigmaCollection.from_yaml(text))
    ndjson = KqlBackend(pipeline).convert(SigmaCollection.from_yaml(text), "discover_ndjson")
    return query, ndjson.splitlines()


def _ancestor_ids(source: dict[str, Any]) -> set[str]:
    ancestors = source.get("kibana.alert.ancestors")
    if ancestors is None:  # nested instead of dotted keys
        ancestors = source.get("kibana", {}).get("alert", {}).get("ancestors", [])
    return {ancestor["id"] for ancestor in ancestors}


def test_discover_saved_objects_import_into_kibana() -> None:
    query, lines = seed_query()
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"sigma.ndjson\"\r\n"
            f"Content-Type: application/ndjson\r\n\r\n" + "\n".join(lines) + f"\r\n--{boundary}--\r\n").encode()
    result = _call("POST", f"{KIBANA}/api/saved_objects/_import?overwrite=true", body,
                   f"multipart/form-data; boundary={boundary}")
    assert result["success"] is True and result["successCount"] == 2, result
    search = json.loads(lines[1])
    try:
        stored = _json("GET", f"{KIBANA}/api/saved_objects/search/{search['id']}")
        source = json.loads(stored["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        assert source["query"] == {"query": query, "language": "kuery"}
    finally:
        for obj in map(json.loads, lines):
            _json("DELETE", f"{KIBANA}/api/saved_objects/{obj['type']}/{obj['id']}?force=true")


def test_kibana_detection_engine_runs_the_seed_rule_exactly(shared_dir) -> None:
    query, _ = seed_query()
    _, caps = with_capabilities(DEFEND_CASELESS)
    index = f"sigma-es-test-kql-{uuid.uuid4().hex[:12]}"
    _json("PUT", f"{ELASTICSEARCH}/{index}", ecs_index_body(shared_dir / "ecs", caps, flavor="elasticsearch"))
    now = dt.datetime.now(dt.UTC)
    try:
        for doc_id, (doc, _) in SEED_EVENTS.items():
            _json("PUT", f"{ELASTICSEARCH}/{index}/_doc/{doc_id}",
                  {**doc, "@timestamp": now.isoformat().replace("+00:00", "Z")})
        _json("POST", f"{ELASTICSEARCH}/{index}/_refresh")
        preview = _json("POST", f"{KIBANA}/api/detection_engine/rules/preview", {
            "type": "query", "language": "kuery", "query": query, "index": [index],
            "name": "sigma-es KQL seed rule", "description": "es_kql live test", "risk_score": 21,
            "severity": "low", "from": "now-15m", "interval": "10m", "invocationCount": 1,
            "timeframeEnd": (now + dt.timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
        })
        assert not preview.get("isAborted"), preview
        alerts_index = ".preview.alerts-security.alerts-default"
        hits: set[str] = set()
        for _ in range(20):  # the preview writes its alerts asynchronously
            _json("POST", f"{ELASTICSEARCH}/{alerts_index}/_refresh")
            found = _json("POST", f"{ELASTICSEARCH}/{alerts_index}/_search", {
                "size": 1000, "query": {"term": {"kibana.alert.rule.uuid": preview["previewId"]}}})
            hits = {i for hit in found["hits"]["hits"] for i in _ancestor_ids(hit["_source"])}
            if hits == SEED_EXPECTED_MATCHES:
                break
            time.sleep(1)
        assert hits == SEED_EXPECTED_MATCHES, preview.get("logs")
    finally:
        _json("DELETE", f"{ELASTICSEARCH}/{index}")
