"""Non-Windows data sources on a real OpenSearch with production ECS field types: each inline rule hits
exactly the events an integration would write for it — and not the same values in another data stream
or event type."""

from __future__ import annotations

import json

import pytest

from tests.conftest import convert
from tests.live.conftest import lucene_ids, search_ids

pytestmark = pytest.mark.live

# name → (rule, {doc_id: ECS document as the integration writes it}, ids the rule must hit)
CASES: dict[str, tuple[str, dict[str, dict], set[str]]] = {
    "linux_process_creation": (
        """
logsource: {product: linux, category: process_creation}
detection:
    sel: {Image|endswith: '/base64', CommandLine|contains: ' -d'}
    condition: sel
""",
        {
            "defend_exec": {"event": {"category": ["process"], "type": ["start"], "dataset": "endpoint.events.process"},
                            "process": {"executable": "/usr/bin/base64", "command_line": "base64 -d /tmp/x"}},
            "upper_case": {"event": {"category": ["process"], "type": ["start"]},
                           "process": {"executable": "/USR/BIN/BASE64", "command_line": "BASE64 -D /tmp/x"}},
            "process_end": {"event": {"category": ["process"], "type": ["end"]},
                            "process": {"executable": "/usr/bin/base64", "command_line": "base64 -d /tmp/x"}},
            "other_tool": {"event": {"category": ["process"], "type": ["start"]},
                           "process": {"executable": "/usr/bin/base32", "command_line": "base32 -d /tmp/x"}},
        },
        {"defend_exec", "upper_case"},
    ),
    "linux_network_initiated": (
        """
logsource: {product: linux, category: network_connection}
detection:
    sel: {Initiated: 'true', DestinationPort: 4444}
    condition: sel
""",
        {
            "outbound": {"event": {"category": ["network"], "type": ["start", "connection"]},
                         "network": {"direction": "egress"}, "destination": {"port": 4444}},
            "inbound": {"event": {"category": ["network"], "type": ["start", "connection"]},
                        "network": {"direction": "ingress"}, "destination": {"port": 4444}},
            "other_port": {"event": {"category": ["network"], "type": ["start"]},
                           "network": {"direction": "egress"}, "destination": {"port": 443}},
        },
        {"outbound"},
    ),
    "auditd_path_record": (
        """
logsource: {product: linux, service: auditd}
detection:
    sel: {type: PATH, name|endswith: '/.bash_history'}
    condition: sel
""",
        {
            "path_renamed": {"event": {"dataset": "auditd.log", "action": "path"},
                             "auditd": {"log": {"name": "/root/.bash_history", "nametype": "NORMAL"}}},
            "path_kept": {"event": {"dataset": "auditd.log", "action": "opened-file"},
                          "auditd": {"log": {"record_type": "PATH", "name": "/home/a/.bash_history"}}},
            "syscall": {"event": {"dataset": "auditd.log", "action": "syscall"},
                        "auditd": {"log": {"name": "/root/.bash_history"}}},
            "other_stream": {"event": {"dataset": "system.auth", "action": "path"},
                             "auditd": {"log": {"name": "/root/.bash_history"}}},
        },
        {"path_renamed", "path_kept"},
    ),
    "cloudtrail": (
        """
logsource: {product: aws, service: cloudtrail}
detection:
    sel: {eventSource: iam.amazonaws.com, eventName: CreateAccessKey, userIdentity.type: Root}
    condition: sel
""",
        {
            "root_key": {"event": {"dataset": "aws.cloudtrail", "provider": "iam.amazonaws.com",
                                   "action": "CreateAccessKey"},
                         "aws": {"cloudtrail": {"user_identity": {"type": "Root"}}}},
            "iam_user": {"event": {"dataset": "aws.cloudtrail", "provider": "iam.amazonaws.com",
                                   "action": "CreateAccessKey"},
                         "aws": {"cloudtrail": {"user_identity": {"type": "IAMUser"}}}},
            "other_stream": {"event": {"dataset": "okta.system", "provider": "iam.amazonaws.com",
                                       "action": "CreateAccessKey"},
                             "aws": {"cloudtrail": {"user_identity": {"type": "Root"}}}},
        },
        {"root_key"},
    ),
    "opencanary_logtype": (
        """
logsource: {product: opencanary, category: application}
detection:
    sel: {logtype: 4002}
    condition: sel
""",
        {
            "ssh_login": {"event": {"dataset": "opencanary.events"}, "log": {"logger": "LOG_SSH_LOGIN_ATTEMPT"}},
            "ssh_connect": {"event": {"dataset": "opencanary.events"}, "log": {"logger": "LOG_SSH_NEW_CONNECTION"}},
        },
        {"ssh_login"},
    ),
    "webserver_query": (
        """
logsource: {category: webserver}
detection:
    sel: {cs-method: GET, cs-uri-query|contains: '../', sc-status: 200}
    condition: sel
""",
        {
            "traversal": {"event": {"dataset": "nginx.access"}, "http": {"request": {"method": "GET"},
                                                                         "response": {"status_code": 200}},
                          "url": {"path": "/download", "query": "file=../../etc/passwd"}},
            "in_path_only": {"event": {"dataset": "nginx.access"}, "http": {"request": {"method": "GET"},
                                                                            "response": {"status_code": 200}},
                             "url": {"path": "/a/../b", "query": "x=1"}},
            "not_found": {"event": {"dataset": "apache.access"}, "http": {"request": {"method": "GET"},
                                                                          "response": {"status_code": 404}},
                          "url": {"path": "/download", "query": "file=../../etc/passwd"}},
        },
        {"traversal"},
    ),
}


def _rule(body: str) -> str:
    return "title: t\nstatus: test\n" + body


@pytest.mark.parametrize("name", sorted(CASES))
def test_lucene_hits_exactly(opensearch, ecs_index, name: str) -> None:
    rule, documents, expected = CASES[name]
    index = ecs_index(documents)
    (query,) = convert(_rule(rule), "es_lucene")
    assert lucene_ids(opensearch, index, query) == expected, query


@pytest.mark.parametrize("name", sorted(CASES))
def test_dsl_hits_exactly(opensearch, ecs_index, name: str) -> None:
    rule, documents, expected = CASES[name]
    index = ecs_index(documents)
    (body,) = convert(_rule(rule), "es_dsl")
    assert search_ids(opensearch, index, json.loads(body)) == expected, body
