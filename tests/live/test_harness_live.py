"""`sigma-es ingest` and `sigma-es test` on the live cluster: small explicit samples, exact outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sigma_es_backend.cli import cli

pytestmark = pytest.mark.live

PREFIX = "i5-harness"

RULE = """
title: Whoami
id: 11111111-2222-3333-4444-555555555555
status: test
logsource: {category: process_creation, product: windows}
detection:
    sel:
        Image|endswith: '\\whoami.exe'
    condition: sel
level: high
"""

UNMAPPED_RULE = """
title: Unmapped
id: 66666666-2222-3333-4444-555555555555
status: test
logsource: {product: nowhere, service: nothing}
detection:
    sel:
        Foo: bar
    condition: sel
"""


def sysmon_process(record_id: int, image: str, command_line: str) -> dict:
    return {"Event": {
        "System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}}, "EventID": 1,
                   "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "ws1", "EventRecordID": record_id,
                   "TimeCreated": {"#attributes": {"SystemTime": "2024-05-01T10:00:00Z"}}},
        "EventData": {"UtcTime": "2024-05-01 10:00:00.000", "Image": image, "CommandLine": command_line,
                      "User": "CORP\\alice"}}}


EVENTS = [sysmon_process(1, "C:\\Windows\\System32\\whoami.exe", "whoami /all"),
          sysmon_process(2, "C:\\Windows\\System32\\WHOAMI.EXE", "WHOAMI /ALL /FO LIST"),
          sysmon_process(3, "C:\\Windows\\System32\\hostname.exe", "hostname")]


def sample_set(root: Path, rule_id: str, match_count: int | None, events: list[dict] = EVENTS) -> None:
    directory = root / "regression_data" / "rules" / rule_id
    directory.mkdir(parents=True)
    (directory / f"{rule_id}.json").write_text("\n".join(json.dumps(e) for e in events))
    count = f"\n      match_count: {match_count}" if match_count is not None else ""
    (directory / "info.yml").write_text(
        f"id: 0\nrule_metadata:\n  - id: {rule_id}\nregression_tests_info:\n    - name: t\n      type: evtx\n"
        f"      path: regression_data/rules/{rule_id}/{rule_id}.evtx{count}\n")


def env(opensearch_url: str) -> dict[str, str]:
    return {"SIGMA_ES_OPENSEARCH_URL": opensearch_url}


def leftover_indices(opensearch) -> list[str]:
    return sorted(opensearch.indices.get(index=f"{PREFIX}*", ignore_unavailable=True))


@pytest.mark.parametrize("shared", [False, True], ids=["index-per-test", "shared-index"])
def test_harness_reports_pass_fail_and_error_per_target(tmp_path, opensearch, opensearch_url, shared) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "whoami.yml").write_text(RULE)
    (rules / "unmapped.yml").write_text(UNMAPPED_RULE)
    (rules / "no_samples.yml").write_text(RULE.replace("11111111", "77777777"))
    (rules / "expects_two.yml").write_text(RULE.replace("11111111", "88888888"))
    sample_set(tmp_path, "11111111-2222-3333-4444-555555555555", None)  # match_count defaults to 1
    sample_set(tmp_path, "88888888-2222-3333-4444-555555555555", 2)
    sample_set(tmp_path, "66666666-2222-3333-4444-555555555555", 1)
    report = tmp_path / "report.json"
    args = ["test", "--samples", str(tmp_path / "regression_data"), "--index-prefix", PREFIX,
            "--report", str(report), str(rules)] + (["--shared-index"] if shared else [])
    result = CliRunner().invoke(cli, args, env=env(opensearch_url))
    assert result.exit_code == 1, result.output
    rules_by_id = {r["rule_id"]: r for r in json.loads(report.read_text())["rules"]}
    outcomes = {rid[:8]: {o["target"]: (o["status"], o["hits"]) for o in r["outcomes"]}
                for rid, r in rules_by_id.items()}
    # Two of the three events match (case-insensitive), on every target.
    assert outcomes["11111111"] == {"es_lucene": ("fail", 2), "es_dsl": ("fail", 2), "es_eql": ("fail", 2)}
    assert outcomes["88888888"] == {"es_lucene": ("pass", 2), "es_dsl": ("pass", 2), "es_eql": ("pass", 2)}
    assert {s for s, _ in outcomes["66666666"].values()} == {"error"}
    assert "77777777-2222-3333-4444-555555555555" not in rules_by_id
    assert "fail (got 2, expected 1)" in result.output
    assert "regression: 1/3 passed" in result.output
    assert leftover_indices(opensearch) == []


def test_harness_exits_zero_when_everything_passes(tmp_path, opensearch, opensearch_url) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "expects_two.yml").write_text(RULE.replace("11111111", "88888888"))
    sample_set(tmp_path, "88888888-2222-3333-4444-555555555555", 2)
    result = CliRunner().invoke(cli, ["test", "--samples", str(tmp_path), "--index-prefix", PREFIX, "--json",
                                      "-t", "es_dsl", str(rules)], env=env(opensearch_url))
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.splitlines()[0])
    assert line["outcomes"] == [{"target": "es_dsl", "status": "pass", "hits": 2, "expected": 2, "reason": None}]


def test_ingest_loads_ecs_documents_and_reports_bad_records(tmp_path, opensearch, opensearch_url) -> None:
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n{not json\n")
    index = f"{PREFIX}-ingest"
    try:
        result = CliRunner().invoke(cli, ["ingest", "--index", index, "--password", "s3cret-never-shown",
                                          str(path)], env=env(opensearch_url))
        assert result.exit_code == 1  # one bad record: reported, the others loaded
        assert "3 loaded, 1 failed" in result.output
        assert f"{path}#4" in result.output
        assert "s3cret-never-shown" not in result.output
        hits = opensearch.search(index=index, body={"query": {"term": {"process.name": "whoami.exe"}}})
        assert hits["hits"]["total"]["value"] == 1  # keyword: case-sensitive, WHOAMI.EXE is not counted
        mapping = opensearch.indices.get_mapping(index=index)[index]["mappings"]["properties"]
        # the OpenSearch flavor of the template: ECS wildcard fields as keyword (query_string-safe)
        assert mapping["process"]["properties"]["command_line"]["type"] == "keyword"
    finally:
        opensearch.indices.delete(index=index, ignore_unavailable=True)


# 1,000 `contains` values: as query_string (case-insensitive regexps, compacted) about 80,000 characters,
# over OpenSearch's default search.query.max_query_string_length (32,000).
LONG_VALUES = "\n".join(f"            - 'npm install evil-pkg-{i:04d}'" for i in range(1000))
LONG_RULE = f"""
title: Long value list
id: 99999999-2222-3333-4444-555555555555
status: test
logsource: {{category: process_creation, product: windows}}
detection:
    sel:
        CommandLine|contains:
{LONG_VALUES}
    condition: sel
level: high
"""

LONG_RULE_EVENTS = [
    sysmon_process(1, "C:\\Program Files\\nodejs\\node.exe", "cmd /c NPM INSTALL Evil-Pkg-0500 --save"),
    sysmon_process(2, "C:\\Program Files\\nodejs\\node.exe", "npm install evil-pkg-0999"),
    sysmon_process(3, "C:\\Program Files\\nodejs\\node.exe", "npm install evil-pkg-1x00"),
]


def test_harness_converts_for_the_clusters_query_length_limit(tmp_path, opensearch, opensearch_url) -> None:
    """The harness reads the cluster's effective search.query.max_query_string_length: at the default the
    long es_lucene query is refused naming the setting; with the setting raised the same rule runs and
    finds exactly its two events (es_dsl, not bound by it, passes either way)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "long.yml").write_text(LONG_RULE)
    sample_set(tmp_path, "99999999-2222-3333-4444-555555555555", 2, LONG_RULE_EVENTS)
    args = ["test", "--samples", str(tmp_path), "--index-prefix", PREFIX, "--json", "-t", "es_lucene",
            "-t", "es_dsl", str(rules)]

    def outcomes() -> dict[str, tuple[str, int | None, str | None]]:
        result = CliRunner().invoke(cli, args, env=env(opensearch_url))
        line = json.loads(result.stdout.splitlines()[0])
        return {o["target"]: (o["status"], o["hits"], o["reason"]) for o in line["outcomes"]}

    setting = "search.query.max_query_string_length"
    assert opensearch.cluster.get_settings(flat_settings=True)["transient"].get(setting) is None
    at_default = outcomes()
    assert at_default["es_dsl"] == ("pass", 2, None)
    status, _, reason = at_default["es_lucene"]
    assert status == "error" and f"{setting} 32000" in reason, at_default
    opensearch.cluster.put_settings(body={"transient": {setting: 100_000}})
    try:
        raised = outcomes()
    finally:
        opensearch.cluster.put_settings(body={"transient": {setting: None}})
    assert raised == {"es_lucene": ("pass", 2, None), "es_dsl": ("pass", 2, None)}
    assert leftover_indices(opensearch) == []
