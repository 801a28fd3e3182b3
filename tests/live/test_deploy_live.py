"""Deploy live: the query-level monitor's window on the real engine; monitors through the Alerting API
when the plugin is there; Kibana rules when SIGMA_ES_KIBANA_URL names a Kibana.

The local OpenSearch here has no Alerting plugin (Maven Central does not serve it). The monitor test then
proves the one thing it can: `sigma-es deploy --to opensearch` detects the absence and refuses with a
clear reason; outside CI it is skipped, in CI it passes on that check and warns that the monitor
scenario did not run.
"""

from __future__ import annotations

import json
import os
import time
import uuid
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from opensearchpy import OpenSearch
from sigma.collection import SigmaCollection

from sigma_es_backend.backends import backends
from sigma_es_backend.cli import cli
from sigma_es_backend.pipelines import ecs_pipeline

RULE = """
title: Whoami Execution (sigma-es live test)
id: {rule_id}
description: Detects whoami.
logsource: {{product: windows, category: process_creation}}
detection:
  selection:
    Image|endswith: '\\whoami.exe'
  condition: selection
level: high
"""


def _event(executable: str, timestamp_ms: int) -> dict:
    return {"@timestamp": timestamp_ms, "event": {"category": ["process"], "type": ["start"], "code": "1"},
            "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational"},
            "process": {"executable": executable, "name": executable.rsplit("\\", 1)[-1]}}


def test_query_level_monitor_search_sees_only_its_own_window(opensearch: OpenSearch, ecs_index) -> None:
    rule = RULE.format(rule_id=str(uuid.uuid4()))
    backend = backends["es_dsl"](processing_pipeline=ecs_pipeline(), interval="5m")
    monitor = json.loads(backend.convert(SigmaCollection.from_yaml(rule), "opensearch_monitor")[0])
    search = monitor["inputs"][0]["search"]["query"]
    period_end = int(time.time() * 1000)
    minute = 60_000
    index = ecs_index({
        "new-match": _event("C:\\Windows\\System32\\WHOAMI.EXE", period_end - 2 * minute),
        "old-match": _event("C:\\Windows\\System32\\whoami.exe", period_end - 7 * minute),  # previous run's
        "at-period-end": _event("C:\\Windows\\System32\\whoami.exe", period_end),  # next run's
        "new-other": _event("C:\\Windows\\System32\\net.exe", period_end - minute),
    })
    # Alerting renders {{period_end}} as epoch millis (the range's format says so) before searching.
    rendered = json.loads(json.dumps(search).replace("{{period_end}}", str(period_end)))
    hits = opensearch.search(index=index, body=rendered)["hits"]["hits"]
    assert {hit["_id"] for hit in hits} == {"new-match"}


def _alerting_installed(opensearch: OpenSearch) -> bool:
    return any(p.get("component") == "opensearch-alerting" for p in opensearch.cat.plugins(format="json"))


def test_deploy_monitors(opensearch: OpenSearch, opensearch_url: str, tmp_path: Path) -> None:
    rule_a, rule_b = str(uuid.uuid4()), str(uuid.uuid4())
    (tmp_path / "a.yml").write_text(RULE.format(rule_id=rule_a))
    (tmp_path / "b.yml").write_text(RULE.format(rule_id=rule_b).replace("whoami.exe", "net.exe"))
    runner = CliRunner()

    def deploy(*extra: str):
        result = runner.invoke(cli, ["deploy", "--to", "opensearch", "--url", opensearch_url, "--json",
                                     *extra, str(tmp_path)])
        return result, (json.loads(result.stdout.splitlines()[-1]) if result.exit_code == 0 else None)

    if not _alerting_installed(opensearch):
        result, _ = deploy("--dry-run")
        assert result.exit_code == 1
        assert "the Alerting plugin (opensearch-alerting) is not installed on" in result.output
        if os.environ.get("CI", "").lower() != "true":
            pytest.skip("Alerting plugin not installed: only the refusal was checked")
        warnings.warn("Alerting plugin not installed on the test cluster: the monitor deploy scenario did not "
                      "run, only the refusal was checked", stacklevel=1)
        return

    created = []
    try:
        result, report = deploy()
        assert result.exit_code == 0, result.output
        assert report["counts"]["create"] == 2
        created = [a["key"] for a in report["plan"]]
        _, again = deploy()
        assert again["counts"] == {"create": 0, "update": 0, "unchanged": 2, "delete": 0, "conflict": 0}
        (tmp_path / "b.yml").write_text((tmp_path / "b.yml").read_text().replace("level: high", "level: low"))
        _, edited = deploy()
        assert (edited["counts"]["update"], edited["counts"]["unchanged"]) == (1, 1)
        unmanaged = opensearch.transport.perform_request("POST", "/_plugins/_alerting/monitors", body={
            "type": "monitor", "monitor_type": "query_level_monitor", "name": "i6-unmanaged", "enabled": False,
            "schedule": {"period": {"interval": 5, "unit": "MINUTES"}},
            "inputs": [{"search": {"indices": ["i6-none"], "query": {"query": {"match_all": {}}}}}],
            "triggers": []})
        (tmp_path / "b.yml").unlink()
        _, pruned = deploy("--prune")
        assert (pruned["counts"]["delete"], pruned["counts"]["unchanged"]) == (1, 1)
        opensearch.transport.perform_request("GET", f"/_plugins/_alerting/monitors/{unmanaged['_id']}")
        opensearch.transport.perform_request("DELETE", f"/_plugins/_alerting/monitors/{unmanaged['_id']}")
    finally:
        for path in tmp_path.glob("*.yml"):
            path.unlink()
        if created:
            deploy("--prune")  # no rules left: removes every monitor this test created


@pytest.mark.skipif(not os.environ.get("SIGMA_ES_KIBANA_URL"), reason="SIGMA_ES_KIBANA_URL not set (docker-compose Kibana)")
def test_deploy_kibana_rules(tmp_path: Path) -> None:
    url = os.environ["SIGMA_ES_KIBANA_URL"]
    rule_id = str(uuid.uuid4())
    (tmp_path / "a.yml").write_text(RULE.format(rule_id=rule_id))
    runner = CliRunner()

    def deploy(*extra: str) -> dict:
        result = runner.invoke(cli, ["deploy", "--to", "kibana", "--url", url, "--json", *extra, str(tmp_path)])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout.splitlines()[-1])

    try:
        assert deploy()["counts"]["create"] == 1
        assert deploy()["counts"]["unchanged"] == 1
        (tmp_path / "a.yml").write_text(RULE.format(rule_id=rule_id).replace("level: high", "level: low"))
        assert deploy()["counts"]["update"] == 1
    finally:
        (tmp_path / "a.yml").unlink()
        assert deploy("--prune")["counts"]["delete"] == 1
