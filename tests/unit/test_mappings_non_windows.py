"""Non-Windows data sources: each converts a small inline rule to a query over its integration's indices,
restricted to its events (event.dataset or the ECS event categorisation), with Sigma fields renamed to
the fields that integration writes."""

from __future__ import annotations

import re

import pytest
import yaml

from sigma_es_backend.pipelines.mapping_files import load_default_mappings
from tests.conftest import convert

# data source id → (logsource, one selection, substrings the ES|QL query must hold).
# ES|QL shows both the index patterns (FROM) and the event condition (WHERE).
CASES: dict[str, tuple[dict, dict, list[str]]] = {
    "linux_process_creation": (
        {"product": "linux", "category": "process_creation"},
        {"Image|endswith": "/curl", "ParentImage|endswith": "/bash"},
        ["FROM logs-endpoint.events.process-*,logs-sysmon_linux.log-*", 'event.category == "process"',
         'event.type == "start"', 'TO_LOWER(process.executable) LIKE "*/curl"',
         'TO_LOWER(process.parent.executable) LIKE "*/bash"']),
    "linux_file_event": (
        {"product": "linux", "category": "file_event"},
        {"TargetFilename|startswith": "/etc/cron.d/"},
        ["FROM logs-endpoint.events.file-*,logs-sysmon_linux.log-*", 'event.category == "file"',
         'event.type == "creation"', 'TO_LOWER(file.path) LIKE "/etc/cron.d/*"']),
    "linux_network_connection": (
        {"product": "linux", "category": "network_connection"},
        {"DestinationPort": 4444, "Initiated": "true"},
        ["FROM logs-endpoint.events.network-*,logs-sysmon_linux.log-*", 'event.category == "network"',
         'event.type == "start"', "destination.port == 4444", 'network.direction == "egress"']),
    "macos_process_creation": (
        {"product": "macos", "category": "process_creation"},
        {"CommandLine|contains": "osascript"},
        ["FROM logs-endpoint.events.process-*", 'event.category == "process"', 'event.type == "start"',
         "process.command_line"]),
    "macos_file_event": (
        {"product": "macos", "category": "file_event"},
        {"TargetFilename|contains": "/LaunchAgents/"},
        ["FROM logs-endpoint.events.file-*", 'event.category == "file"', 'event.type == "creation"', "file.path"]),
    "linux_auditd": (
        {"product": "linux", "service": "auditd"},
        {"type": "PATH", "name|endswith": "/.bash_history"},
        ["FROM logs-auditd.log-*,filebeat-*", 'event.dataset == "auditd.log"',
         '(TO_LOWER(event.action) == "path" OR TO_LOWER(auditd.log.record_type) == "path")',
         'TO_LOWER(auditd.log.name) LIKE "*/.bash_history"']),
    "linux_auth": ({"product": "linux", "service": "auth"}, {"USER": "x"}, None),
    "linux_sshd": ({"product": "linux", "service": "sshd"}, {"USER": "x"}, None),
    "linux_syslog": ({"product": "linux", "service": "syslog"}, {"USER": "x"}, None),
    "linux_sudo": (
        {"product": "linux", "service": "sudo"},
        {"USER": "#-1"},
        ["FROM logs-system.auth-*,filebeat-*", 'event.dataset == "system.auth"',
         'system.auth.sudo.user == "#-1"']),
    "aws_cloudtrail": (
        {"product": "aws", "service": "cloudtrail"},
        {"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "responseElements.ConsoleLogin": "Success"},
        ["FROM logs-aws.cloudtrail-*,filebeat-*", 'event.dataset == "aws.cloudtrail"',
         'TO_LOWER(event.provider) == "iam.amazonaws.com"', 'TO_LOWER(event.action) == "createuser"',
         "aws.cloudtrail.flattened.response_elements.ConsoleLogin"]),
    "azure_activitylogs": (
        {"product": "azure", "service": "activitylogs"},
        {"operationName": "MICROSOFT.KEYVAULT/VAULTS/DELETE"},
        ["FROM logs-azure.activitylogs-*,filebeat-*", 'event.dataset == "azure.activitylogs"',
         'TO_LOWER(azure.activitylogs.operation_name) == "microsoft.keyvault/vaults/delete"']),
    "azure_signinlogs": (
        {"product": "azure", "service": "signinlogs"},
        {"Status": "Success", "AuthenticationRequirement": "singleFactorAuthentication"},
        ["FROM logs-azure.signinlogs-*,filebeat-*", 'event.dataset == "azure.signinlogs"',
         'event.outcome == "success"', "azure.signinlogs.properties.authentication_requirement"]),
    "azure_auditlogs": (
        {"product": "azure", "service": "auditlogs"},
        {"properties.message": "Add member to role", "Category": "RoleManagement"},
        ["FROM logs-azure.auditlogs-*,filebeat-*", 'event.dataset == "azure.auditlogs"',
         'TO_LOWER(azure.auditlogs.operation_name) == "add member to role"', "azure.auditlogs.properties.category"]),
    "azure_riskdetection": (
        {"product": "azure", "service": "riskdetection"},
        {"riskEventType": "unlikelyTravel"},
        ["FROM logs-azure.identity_protection-*,filebeat-*", 'event.dataset == "azure.identity_protection"',
         "azure.identityprotection.properties.risk_event_type"]),
    "gcp_audit": (
        {"product": "gcp", "service": "gcp.audit"},
        {"gcp.audit.method_name": "v1.compute.instances.delete"},
        ["FROM logs-gcp.audit-*,filebeat-*", 'event.dataset == "gcp.audit"', "gcp.audit.method_name"]),
    "google_workspace_admin": (
        {"product": "gcp", "service": "google_workspace.admin"},
        {"eventService": "admin.googleapis.com", "eventName": "CREATE_ROLE"},
        ["FROM logs-google_workspace.admin-*,filebeat-*", 'event.dataset == "google_workspace.admin"',
         'TO_LOWER(event.action) == "create_role"']),
    "google_workspace_login": (
        {"product": "gcp", "service": "google_workspace.login"},
        {"protoPayload.metadata.event.eventName": "login_failure"},
        ["FROM logs-google_workspace.login-*,filebeat-*", 'event.dataset == "google_workspace.login"',
         'TO_LOWER(event.action) == "login_failure"']),
    "m365_threat_management": (
        {"product": "m365", "service": "threat_management"},
        {"eventSource": "SecurityComplianceCenter", "eventName": "Potential ransomware activity", "status": "success"},
        ["FROM logs-o365.audit-*,filebeat-*", 'event.dataset == "o365.audit"',
         'TO_LOWER(event.provider) == "securitycompliancecenter"',
         'TO_LOWER(event.action) == "potential ransomware activity"', 'TO_LOWER(event.outcome) == "success"']),
    "m365_threat_detection": (
        {"product": "m365", "service": "threat_detection"}, {"eventName": "x"},
        ["FROM logs-o365.audit-*", 'event.dataset == "o365.audit"', "event.action"]),
    "m365_exchange": (
        {"product": "m365", "service": "exchange"}, {"eventName": "x"},
        ["FROM logs-o365.audit-*", 'event.dataset == "o365.audit"', "event.action"]),
    "m365_audit": (
        {"product": "m365", "service": "audit"},
        {"Operation": "New-InboxRule"},
        ["FROM logs-o365.audit-*,filebeat-*", 'event.dataset == "o365.audit"',
         'TO_LOWER(event.action) == "new-inboxrule"']),
    "opencanary": (
        {"product": "opencanary", "category": "application"},
        {"logtype": 2000},
        ["FROM logs-opencanary.events-*", 'event.dataset == "opencanary.events"',
         'log.logger == "LOG_FTP_LOGIN_ATTEMPT"']),
    "bitbucket_audit": (
        {"product": "bitbucket", "service": "audit"},
        {"auditType.category": "Authentication", "auditType.action": "User login failed(SSH)"},
        ["FROM logs-atlassian_bitbucket.audit-*,filebeat-*", 'event.dataset == "atlassian_bitbucket.audit"',
         'TO_LOWER(bitbucket.audit.type.category) == "authentication"',
         'TO_LOWER(bitbucket.audit.type.action) == "user login failed(ssh)"']),
    "okta_system": (
        {"product": "okta", "service": "okta"},
        {"eventType": "user.mfa.factor.deactivate", "actor.alternateId|endswith": "@example.com"},
        ["FROM logs-okta.system-*,filebeat-*", 'event.dataset == "okta.system"', "okta.event_type",
         "okta.actor.alternate_id"]),
    "github_audit": (
        {"product": "github", "service": "audit"},
        {"action": "repo.destroy"},
        ["FROM logs-github.audit-*", 'event.dataset == "github.audit"', 'TO_LOWER(event.action) == "repo.destroy"']),
    "kubernetes_audit": (
        {"product": "kubernetes", "category": "application", "service": "audit"},
        {"verb": "create", "objectRef.resource": "pods", "objectRef.subresource": "exec"},
        ["FROM logs-kubernetes.audit_logs-*", 'event.dataset == "kubernetes.audit_logs"', "kubernetes.audit.verb",
         "kubernetes.audit.objectRef.resource", "kubernetes.audit.objectRef.subresource"]),
    "zeek_dns": (
        {"product": "zeek", "service": "dns"},
        {"query|endswith": ".onion", "id.resp_p": 53},
        ["FROM logs-zeek.dns-*,filebeat-*", 'event.dataset == "zeek.dns"', "zeek.dns.query", "destination.port == 53"]),
    "zeek_http": (
        {"product": "zeek", "service": "http"},
        {"method": "POST", "uri|contains": "/wp-admin"},
        ["FROM logs-zeek.http-*,filebeat-*", 'event.dataset == "zeek.http"', "http.request.method", "url.original"]),
    "zeek_smb_files": (
        {"product": "zeek", "service": "smb_files"},
        {"path|endswith": "\\ADMIN$", "name|endswith": ".exe"},
        ["FROM logs-zeek.smb_files-*,filebeat-*", 'event.dataset == "zeek.smb_files"', "zeek.smb_files.path",
         "zeek.smb_files.name"]),
    "zeek_dce_rpc": (
        {"product": "zeek", "service": "dce_rpc"},
        {"operation": "NetrJobAdd"},
        ["FROM logs-zeek.dce_rpc-*,filebeat-*", 'event.dataset == "zeek.dce_rpc"', "zeek.dce_rpc.operation"]),
    "zeek_kerberos": (
        {"product": "zeek", "service": "kerberos"},
        {"request_type": "TGS", "cipher": "rc4-hmac"},
        ["FROM logs-zeek.kerberos-*,filebeat-*", 'event.dataset == "zeek.kerberos"', "zeek.kerberos.request_type",
         "zeek.kerberos.cipher"]),
    "zeek_x509": (
        {"product": "zeek", "service": "x509"},
        {"certificate.serial": "00"},
        ["FROM logs-zeek.x509-*,filebeat-*", 'event.dataset == "zeek.x509"', "zeek.x509.certificate.serial"]),
    "zeek_rdp": (
        {"product": "zeek", "service": "rdp"},
        {"id.orig_h": "10.0.0.1"},
        ["FROM logs-zeek.rdp-*,filebeat-*", 'event.dataset == "zeek.rdp"', "source.ip"]),
    "dns": (
        {"category": "dns"},
        {"query|endswith": ".onion", "record_type": "TXT"},
        ["FROM logs-network_traffic.dns-*,logs-zeek.dns-*,packetbeat-*,filebeat-*",
         '(event.dataset == "network_traffic.dns" OR event.dataset == "zeek.dns")', "dns.question.name",
         "zeek.dns.query", "dns.question.type", "zeek.dns.qtype_name"]),
    "firewall": (
        {"category": "firewall"},
        {"dst_port": 3389},
        ["FROM logs-fortinet_fortigate.log-*", 'event.category == "network"', "destination.port == 3389"]),
    "fortigate_event": (
        {"product": "fortigate", "service": "event"},
        {"action": "Add", "cfgpath": "firewall.address"},
        ["FROM logs-fortinet_fortigate.log-*,filebeat-*", 'event.dataset == "fortinet_fortigate.log"',
         'fortinet.firewall.type == "event"', "fortinet.firewall.action", "fortinet.firewall.cfgpath"]),
    "cisco_aaa": ({"product": "cisco", "service": "aaa"}, {"USER": "x"}, None),
    "cisco_syslog": ({"product": "cisco", "service": "syslog"}, {"USER": "x"}, None),
    "cisco_duo": (
        {"product": "cisco", "service": "duo"},
        {"event_type": "authentication", "reason": "user_marked_fraud"},
        ["FROM logs-cisco_duo.auth-*,filebeat-*", 'event.dataset == "cisco_duo.auth"', "cisco_duo.auth.event_type",
         "cisco_duo.auth.reason"]),
    "webserver_access": (
        {"category": "webserver"},
        {"cs-method": "GET", "cs-uri-query|contains": "../", "sc-status": 200},
        ["FROM logs-nginx.access-*,logs-apache.access-*,logs-iis.access-*,filebeat-*",
         '(event.dataset == "nginx.access" OR event.dataset == "apache.access" OR event.dataset == "iis.access")', "http.request.method", "url.query",
         "http.response.status_code == 200"]),
    "apache_error": ({"service": "apache"}, {"USER": "x"}, None),
    "nginx_error": ({"service": "nginx"}, {"USER": "x"}, None),
    "proxy": (
        {"category": "proxy"},
        {"c-useragent|contains": "python-requests", "cs-host|endswith": ".example"},
        ["FROM logs-squid.log-*,logs-zscaler_zia.web-*", '(event.dataset == "squid.log" OR event.dataset == "zscaler_zia.web")',
         "user_agent.original", "url.domain"]),
}

NON_WINDOWS = [ds for ds in load_default_mappings().data_sources if ds.product != "windows"]


def _rule(logsource: dict, selection: dict) -> str:
    return yaml.safe_dump({"title": "t", "logsource": logsource,
                           "detection": {"selection": selection, "condition": "selection"}})


def test_every_non_windows_data_source_has_a_case() -> None:
    assert sorted(ds.id for ds in NON_WINDOWS) == sorted(CASES)


@pytest.mark.parametrize("ds_id", [k for k, v in CASES.items() if v[2] is not None])
def test_inline_rule_converts_to_index_event_filter_and_fields(ds_id: str) -> None:
    logsource, selection, expected = CASES[ds_id]
    query = convert(_rule(logsource, selection), "es_esql")[0]
    missing = [part for part in expected if part not in query]
    assert missing == [], query


@pytest.mark.parametrize("ds_id", [k for k, v in CASES.items() if v[2] is None])
def test_raw_line_sources_map_no_fields_and_name_the_field(ds_id: str) -> None:
    """Sources whose Sigma rules search the raw line: a field fails the rule, naming field and data source."""
    logsource, selection, _ = CASES[ds_id]
    with pytest.raises(Exception, match=rf"field 'USER' has no ECS mapping for data source '{ds_id}'"):
        convert(_rule(logsource, selection), "es_esql")


@pytest.mark.parametrize(("logsource", "field", "reason"), [
    ({"product": "macos", "category": "process_creation"}, "OriginalFileName", "macOS executables have none"),
    ({"product": "aws", "service": "cloudtrail"}, "requestParameters", "not the JSON text the rule matches"),
    ({"product": "gcp", "service": "gcp.audit"}, "data.protoPayload.authorizationInfo.permission", "nested field"),
    ({"product": "linux", "service": "auditd"}, "a1", "position cannot be queried"),
])
def test_fields_without_exact_counterpart_fail_the_rule_with_the_reason(logsource: dict, field: str,
                                                                       reason: str) -> None:
    with pytest.raises(Exception, match=rf"field '{re.escape(field)}' cannot be queried exactly in .*{reason}"):
        convert(_rule(logsource, {field: "x"}), "es_lucene")


@pytest.mark.parametrize(("logsource", "reason"), [
    ({"product": "rpc_firewall", "category": "application"}, "no Elastic integration parses them"),
    ({"product": "azure", "service": "pim"}, "has no data stream for them"),
    ({"category": "antivirus"}, "every AV product has its own integration"),
])
def test_log_source_without_counterpart_fails_naming_it_and_why(logsource: dict, reason: str) -> None:
    described = ", ".join(f"{k}: {v}" for k, v in logsource.items())
    with pytest.raises(Exception, match=rf"log source \{{{described}\}} has no Elastic integration counterpart: .*{reason}"):
        convert(_rule(logsource, {"x": "y"}), "es_lucene")
