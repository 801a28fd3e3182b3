"""One table of Sigma feature cases shared by every backend's tests.

Each case is a small rule (detection only; the log source picks the ECS data source), ECS documents
with production field names (case variants, near misses, missing fields) and the ids Sigma says
match. The live tests run es_lucene and es_dsl on OpenSearch, the unit tests evaluate es_eql with
the `eql` package and es_esql with the ES|QL subset evaluator; a backend listed in `raises` must
fail that case with an error matching the pattern. The feature ids are those of
`sigma_es_backend.backends.features`, whose README table these cases prove.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from sigma.collection import SigmaCollection
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import SetStateTransformation, ValueListPlaceholderTransformation

from sigma_es_backend.backends import backends
from sigma_es_backend.backends.common import FIELD_CAPABILITIES_STATE, FieldCapabilities
from sigma_es_backend.backends.features import BACKEND_IDS
from sigma_es_backend.pipelines import default_mapping_set, ecs_pipeline

SYSMON = "Microsoft-Windows-Sysmon/Operational"
BASE_EVENTS: dict[str, dict[str, Any]] = {
    "process_creation": {"event.category": ["process"], "event.type": ["start"], "event.code": "1", "winlog.channel": SYSMON},
    "network_connection": {"event.category": ["network"], "event.code": "3", "winlog.channel": SYSMON},
    "dns_query": {"event.code": "22", "winlog.channel": SYSMON},
    "image_load": {"event.code": "7", "winlog.channel": SYSMON},
}
PRODUCT = {"process_creation": "windows", "network_connection": "windows", "dns_query": "windows",
           "image_load": "windows"}


# KQL (es_kql): no case-insensitive operator, `*` as the only wildcard, whitespace splits wildcard values.
KQL_CASE = {"es_kql": "case-insensitive match of .*: KQL has no case-insensitive operator"}
KQL_SPACE = {"es_kql": "whitespace ' ' in a wildcard value"}
KQL_QMARK = {"es_kql": "the single-character wildcard '\\?' has no KQL equivalent"}
KQL_RE = {"es_kql": "KQL has no regular expressions"}


NO_DATE_PARTS = {"es_lucene": "query_string cannot extract date parts", "es_kql": "KQL cannot extract date parts",
                 "es_eql": "the language has no date functions"}
# Analyzed text fields: only ES|QL compares the whole value.
TEXT_FIELD = {backend: "analyzed text field|regular expression on match_only_text" for backend in BACKEND_IDS
              if backend != "es_esql"}
FIELDREF_NO = {"es_kql": "KQL cannot compare two fields"}
# es_lucene carries a field reference as a script filter beside the query_string (dsl_query, Kibana rules,
# monitors); its plain query_string refuses the rule.
LUCENE_FIELDREF = {"es_lucene": "query_string cannot compare two fields"}
# The split Sysmon User field: the refusal names the rule and both sides.
SPLIT_FIELDREF_NO, SPLIT_LUCENE_FIELDREF = (
    {backend: rf"rule 'fieldref_split-.*'.*field reference \(fieldref\) .*'User' \(user\.domain "
     rf"\+ '\\\\' \+ user\.name\).*{reason}" for backend, reason in refusals.items()}
    for refusals in (FIELDREF_NO, LUCENE_FIELDREF))


def everywhere(pattern: str) -> dict[str, str]:
    return dict.fromkeys(BACKEND_IDS, pattern)


@dataclass(frozen=True)
class FeatureCase:
    feature: str
    name: str
    detection: str  # the `detection:` block, unindented YAML
    docs: dict[str, dict[str, Any]]  # doc id → {dotted ECS field: value}
    expected: frozenset[str] | set[str]
    logsource: str = "process_creation"
    raises: dict[str, str] = field(default_factory=dict)  # backend → regex the error must match
    # backend → regex the error of its default format must match; its other formats find `expected`
    default_format_raises: dict[str, str] = field(default_factory=dict)
    field_types: dict[str, str] = field(default_factory=dict)  # capability overrides (ECS field → type)
    pipeline_vars: dict[str, list[str]] = field(default_factory=dict)  # values for `expand` placeholders
    # The backends that run the case (default all). Multi-valued fields as function arguments are outside
    # what EQL (first value only) and ES|QL (null) define, as the README says: such cases run elsewhere.
    backends: tuple[str, ...] = BACKEND_IDS

    @property
    def id(self) -> str:
        return f"{self.feature}-{self.name}"

    @property
    def rule(self) -> str:
        detection = "\n".join("    " + line for line in self.detection.strip("\n").splitlines())
        return (f"title: {self.id}\nstatus: test\nlogsource:\n    product: {PRODUCT[self.logsource]}\n"
                f"    category: {self.logsource}\ndetection:\n{detection}\n")

    def documents(self) -> dict[str, dict[str, Any]]:
        """Full ECS documents: the data source's event fields, the case's fields, a test_case tag."""
        out = {}
        for doc_id, fields in self.docs.items():
            doc: dict[str, Any] = {"@timestamp": "2026-11-27T10:00:00.000Z", "test_case": self.id}
            for dotted, value in {**BASE_EVENTS[self.logsource], **fields}.items():
                node = doc
                *parents, leaf = dotted.split(".")
                for part in parents:
                    node = node.setdefault(part, {})
                node[leaf] = value
            out[doc_id] = doc
        return out


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64_at_offsets(prefix: bytes, needle: bytes, suffix: bytes) -> dict[str, str]:
    """The needle base64-encoded at each of the three byte offsets (as in a longer encoded blob)."""
    return {f"offset{i}": b64(prefix[: len(prefix) - i] + needle + suffix) for i in range(3)}


EXE = "process.executable"  # keyword + .caseless
OFN = "process.pe.original_file_name"  # keyword, no .caseless: Lucene needs a RegExp for case
CMD = "process.command_line"  # wildcard
CWD = "process.working_directory"  # keyword
LOGON = "winlog.event_data.LogonId"  # keyword (integration's dynamic string mapping)
PID = "process.pid"  # long
TS = "@timestamp"  # date
PARENT = "process.parent.executable"  # keyword + .caseless
DOMAIN, NAME = "user.domain", "user.name"  # Sysmon User "DOMAIN\\name", split by the integration
PARENT_USER = "winlog.event_data.ParentUser"  # raw "DOMAIN\\name"
CMD_EXE = "C:\\Windows\\System32\\cmd.exe"
RESERVED = 'a+b-c=d&&e||f>g<h!i(j)k{l}m[n]o^p"q~r*s?t:u\\v/w x#y@z%'
RESERVED_SIGMA = RESERVED.replace("*", "\\*").replace("?", "\\?")

CASES: list[FeatureCase] = [
    # --- case-insensitive default ----------------------------------------------------------------
    FeatureCase("case_insensitive", "keyword_with_caseless", f"sel:\n  Image: '{CMD_EXE}'\ncondition: sel",
                {"exact": {EXE: CMD_EXE}, "upper": {EXE: CMD_EXE.upper()}, "lower": {EXE: CMD_EXE.lower()},
                 "longer": {EXE: CMD_EXE + ".bak"}, "other_drive": {EXE: "D" + CMD_EXE[1:]},
                 "missing": {}},
                {"exact", "upper", "lower"}),
    FeatureCase("case_insensitive", "keyword_without_caseless", "sel:\n  OriginalFileName: 'Cmd.Exe'\ncondition: sel",
                {"exact": {OFN: "Cmd.Exe"}, "upper": {OFN: "CMD.EXE"}, "lower": {OFN: "cmd.exe"},
                 "trailing_space": {OFN: "cmd.exe "}, "prefixed": {OFN: "xcmd.exe"}, "dot_any": {OFN: "cmdXexe"},
                 "missing": {}},
                {"exact", "upper", "lower"}, raises=KQL_CASE),
    FeatureCase("case_insensitive", "unicode_letters", "sel:\n  OriginalFileName: 'Äpfel-Ωmega.exe'\ncondition: sel",
                {"exact": {OFN: "Äpfel-Ωmega.exe"}, "lower": {OFN: "äpfel-ωmega.exe"},
                 "upper": {OFN: "ÄPFEL-ΩMEGA.EXE"}, "ascii": {OFN: "Apfel-Omega.exe"}},
                {"exact", "lower", "upper"}, raises=KQL_CASE),
    FeatureCase("case_insensitive", "wildcard_field", "sel:\n  CommandLine: 'whoami /all'\ncondition: sel",
                {"exact": {CMD: "whoami /all"}, "upper": {CMD: "WHOAMI /ALL"}, "longer": {CMD: "whoami /all x"},
                 "missing": {}},
                {"exact", "upper"}, raises=KQL_CASE),
    # --- cased -----------------------------------------------------------------------------------
    FeatureCase("cased", "keyword_with_caseless", f"sel:\n  Image|cased: '{CMD_EXE}'\ncondition: sel",
                {"exact": {EXE: CMD_EXE}, "upper": {EXE: CMD_EXE.upper()}, "lower": {EXE: CMD_EXE.lower()}},
                {"exact"}),
    FeatureCase("cased", "keyword_contains", "sel:\n  OriginalFileName|cased|contains: 'Md.E'\ncondition: sel",
                {"exact": {OFN: "cMd.Exe"}, "lower": {OFN: "cmd.exe"}, "upper": {OFN: "CMD.EXE"}},
                {"exact"}),
    FeatureCase("cased", "wildcard_field", "sel:\n  CommandLine|cased: 'Whoami /All'\ncondition: sel",
                {"exact": {CMD: "Whoami /All"}, "lower": {CMD: "whoami /all"}},
                {"exact"}),
    # --- wildcards -------------------------------------------------------------------------------
    FeatureCase("wildcards", "star_and_question_mark",
                "sel:\n  Image: 'C:\\Windows\\\\*\\cmd.ex?'\ncondition: sel",  # Sigma: \\* is a backslash + wildcard
                {"system32": {EXE: CMD_EXE}, "syswow64_upper": {EXE: "C:\\WINDOWS\\SYSWOW64\\CMD.EXE"},
                 "deeper": {EXE: "C:\\Windows\\a\\b\\cmd.exe"}, "no_middle_dir": {EXE: "C:\\Windows\\cmd.exe"},
                 "one_char_too_many": {EXE: CMD_EXE + "1"}, "other": {EXE: "C:\\Windows\\System32\\cmd.dll"}},
                {"system32", "syswow64_upper", "deeper"}, raises=KQL_QMARK),
    FeatureCase("wildcards", "escaped_are_literal", "sel:\n  OriginalFileName: 'a\\*b\\?c'\ncondition: sel",
                {"literal": {OFN: "a*b?c"}, "upper": {OFN: "A*B?C"}, "star_as_wildcard": {OFN: "aXXb?c"},
                 "qmark_as_wildcard": {OFN: "a*bXc"}},
                {"literal", "upper"}),
    FeatureCase("wildcards", "escaped_on_caseless", "sel:\n  Image: 'C:\\x\\*y\\?'\ncondition: sel",
                {"literal": {EXE: "C:\\x*y?"}, "upper": {EXE: "c:\\X*Y?"}, "wild": {EXE: "C:\\xZZy!"}},
                {"literal", "upper"}),
    FeatureCase("wildcards", "wildcard_field", "sel:\n  CommandLine: '* -e? *'\ncondition: sel",
                {"enc": {CMD: "ps -eX abc"}, "upper": {CMD: "PS -EC ABC"}, "no_space": {CMD: "ps -eXabc"}},
                {"enc", "upper"}, raises=KQL_QMARK),
    # --- contains / startswith / endswith -------------------------------------------------------
    FeatureCase("contains", "contains_caseless", "sel:\n  Image|contains: '\\System32\\'\ncondition: sel",
                {"match": {EXE: CMD_EXE}, "upper": {EXE: CMD_EXE.upper()}, "no": {EXE: "C:\\Windows\\cmd.exe"},
                 "missing": {}},
                {"match", "upper"}),
    FeatureCase("contains", "startswith_keyword", "sel:\n  OriginalFileName|startswith: 'Power'\ncondition: sel",
                {"match": {OFN: "PowerShell.EXE"}, "lower": {OFN: "powershell.exe"}, "inner": {OFN: "xpowershell"},
                 "exact": {OFN: "power"}},
                {"match", "lower", "exact"}, raises=KQL_CASE),
    FeatureCase("contains", "endswith_caseless", "sel:\n  Image|endswith: '\\cmd.exe'\ncondition: sel",
                {"match": {EXE: CMD_EXE}, "upper": {EXE: CMD_EXE.upper()}, "no_backslash": {EXE: "C:\\xcmd.exe"},
                 "longer": {EXE: CMD_EXE + "x"}},
                {"match", "upper"}),
    FeatureCase("contains", "contains_wildcard_field", "sel:\n  CommandLine|contains: ' -enc '\ncondition: sel",
                {"lower": {CMD: "powershell -nop -enc SQBFAFgA"}, "upper": {CMD: "POWERSHELL -NOP -ENC SQB"},
                 "no_spaces": {CMD: "powershell -encSQB"}, "missing": {}},
                {"lower", "upper"}, raises=KQL_SPACE),
    FeatureCase("contains", "startswith_wildcard_field", "sel:\n  CommandLine|startswith: 'cmd /c'\ncondition: sel",
                {"match": {CMD: "CMD /C whoami"}, "inner": {CMD: "x cmd /c"}},
                {"match"}, raises=KQL_SPACE),
    FeatureCase("contains", "backslash_before_wildcard_on_wildcard_field",
                "sel:\n  CommandLine|contains: '\\Windows\\Temp\\'\ncondition: sel",
                {"match": {CMD: "copy x C:\\WINDOWS\\TEMP\\y"}, "no": {CMD: "copy x C:\\Windows\\Temp"}},
                {"match"}, raises=KQL_CASE),
    # --- all -------------------------------------------------------------------------------------
    FeatureCase("all", "contains_all", "sel:\n  Image|contains|all: ['\\Temp\\', '.scr']\ncondition: sel",
                {"both": {EXE: "C:\\Temp\\x.SCR"}, "first": {EXE: "C:\\Temp\\x.exe"}, "second": {EXE: "C:\\x.scr"}},
                {"both"}),
    FeatureCase("all", "contains_all_wildcard_field",
                "sel:\n  CommandLine|contains|all: ['-nop', '-w hidden']\ncondition: sel",
                {"both": {CMD: "powershell -NOP -W Hidden -c x"}, "one": {CMD: "powershell -nop -c x"}},
                {"both"}, raises=KQL_CASE),
    # --- base64 / base64offset --------------------------------------------------------------------
    FeatureCase("base64", "base64_exact", "sel:\n  CurrentDirectory|base64: 'C:\\Temp\\'\ncondition: sel",
                {"encoded": {CWD: b64(b"C:\\Temp\\")}, "plain": {CWD: "C:\\Temp\\"},
                 "encoded_other": {CWD: b64(b"C:\\Tmp\\")}},
                {"encoded"}, raises=KQL_CASE),
    FeatureCase("base64", "base64offset_contains",
                "sel:\n  CommandLine|base64offset|contains: 'iex (New-Object'\ncondition: sel",
                {**{k: {CMD: "powershell -enc " + v}
                    for k, v in b64_at_offsets(b"$a=1;", b"iex (New-Object", b" Net.WebClient)").items()},
                 "other_text": {CMD: "powershell -enc " + b64(b"$a=1;ie x (New-Object Net.WebClient)")}},
                {"offset0", "offset1", "offset2"}, raises=KQL_CASE),
    FeatureCase("base64", "base64offset_keyword",
                "sel:\n  CurrentDirectory|base64offset|contains: 'secret'\ncondition: sel",
                {**{k: {CWD: v} for k, v in b64_at_offsets(b"ab", b"secret", b"xyz").items()},
                 "plain": {CWD: "secret"}},
                {"offset0", "offset1", "offset2"}, raises=KQL_CASE),
    # --- wide / utf16 ------------------------------------------------------------------------------
    FeatureCase("utf16", "wide_base64offset",
                "sel:\n  CommandLine|wide|base64offset|contains: 'ping'\ncondition: sel",
                {**{k: {CMD: "powershell -e " + v}
                    for k, v in b64_at_offsets("ab".encode("utf-16-le"), "ping".encode("utf-16-le"),
                                               " 1.2.3.4".encode("utf-16-le")).items()},
                 "utf8": {CMD: "powershell -e " + b64(b"abping 1.2.3.4")}},
                {"offset0", "offset1", "offset2"}, raises=KQL_CASE),
    FeatureCase("utf16", "wide_keyword", "sel:\n  CurrentDirectory|wide|base64: 'ab'\ncondition: sel",
                {"le": {CWD: b64("ab".encode("utf-16-le"))}, "be": {CWD: b64("ab".encode("utf-16-be"))}},
                {"le"}, raises=KQL_CASE),
    FeatureCase("utf16", "utf16be_keyword", "sel:\n  CurrentDirectory|utf16be|base64: 'ab'\ncondition: sel",
                {"le": {CWD: b64("ab".encode("utf-16-le"))}, "be": {CWD: b64("ab".encode("utf-16-be"))}},
                {"be"}, raises=KQL_CASE),
    # --- windash -----------------------------------------------------------------------------------
    FeatureCase("windash", "wildcard_field", "sel:\n  CommandLine|windash|contains: ' -enc '\ncondition: sel",
                {"hyphen": {CMD: "ps -enc x"}, "slash": {CMD: "ps /enc x"}, "en_dash": {CMD: "ps \u2013enc x"},
                 "em_dash": {CMD: "ps \u2014enc x"}, "bar": {CMD: "ps \u2015ENC x"}, "underscore": {CMD: "ps _enc x"}},
                {"hyphen", "slash", "en_dash", "em_dash", "bar"}, raises=KQL_SPACE),
    FeatureCase("windash", "keyword", "sel:\n  CurrentDirectory|windash: '-x'\ncondition: sel",
                {"hyphen": {CWD: "-x"}, "slash": {CWD: "/X"}, "en_dash": {CWD: "\u2013x"}, "other": {CWD: "+x"}},
                {"hyphen", "slash", "en_dash"}),
    # --- re ----------------------------------------------------------------------------------------
    FeatureCase("re", "unanchored_start_dollar_end", "sel:\n  OriginalFileName|re: 'cmd\\.exe$'\ncondition: sel",
                {"exact": {OFN: "cmd.exe"}, "prefixed": {OFN: "xcmd.exe"}, "final_newline": {OFN: "cmd.exe\n"},
                 "upper": {OFN: "CMD.EXE"}, "longer": {OFN: "cmd.exe.bak"}, "dot_any": {OFN: "cmdXexe"}},
                {"exact", "prefixed", "final_newline"}, raises=KQL_RE),
    FeatureCase("re", "flag_i", "sel:\n  OriginalFileName|re|i: '^cmd\\.exe$'\ncondition: sel",
                {"upper": {OFN: "CMD.EXE"}, "lower": {OFN: "cmd.exe"}, "prefixed": {OFN: "xcmd.exe"}},
                {"upper", "lower"}, raises=KQL_RE),
    FeatureCase("re", "inline_flag_i", "sel:\n  OriginalFileName|re: '(?i)^cmd'\ncondition: sel",
                {"upper": {OFN: "CMD.EXE"}, "inner": {OFN: "xcmd"}}, {"upper"}, raises=KQL_RE),
    FeatureCase("re", "flag_m", "sel:\n  OriginalFileName|re|m: '^foo$'\ncondition: sel",
                {"middle_line": {OFN: "bar\nfoo\nbaz"}, "alone": {OFN: "foo"}, "not_a_line": {OFN: "bar\nfoox"}},
                {"middle_line", "alone"}, raises=KQL_RE),
    FeatureCase("re", "no_flag_m", "sel:\n  OriginalFileName|re: '^foo$'\ncondition: sel",
                {"middle_line": {OFN: "bar\nfoo\nbaz"}, "alone": {OFN: "foo"}}, {"alone"}, raises=KQL_RE),
    FeatureCase("re", "flag_s", "sel:\n  OriginalFileName|re|s: 'a.b'\ncondition: sel",
                {"newline": {OFN: "xa\nbx"}, "char": {OFN: "acb"}, "none": {OFN: "ab"}}, {"newline", "char"}, raises=KQL_RE),
    FeatureCase("re", "no_flag_s", "sel:\n  OriginalFileName|re: 'a.b'\ncondition: sel",
                {"newline": {OFN: "xa\nbx"}, "char": {OFN: "acb"}}, {"char"}, raises=KQL_RE),
    FeatureCase("re", "classes_and_repeats", "sel:\n  OriginalFileName|re: '^[a-f0-9]{4}-\\d+\\.(exe|dll)$'\ncondition: sel",
                {"match": {OFN: "ab12-345.dll"}, "short": {OFN: "ab1-345.dll"}, "upper": {OFN: "AB12-345.dll"},
                 "ext": {OFN: "ab12-345.sys"}},
                {"match"}, raises=KQL_RE),
    FeatureCase("re", "wildcard_field", "sel:\n  CommandLine|re: '-enc [A-Za-z0-9+/=]{8,}'\ncondition: sel",
                {"match": {CMD: "ps -enc SQBFAFgA=="}, "short": {CMD: "ps -enc SQB"}},
                {"match"}, raises=KQL_RE),
    FeatureCase("re", "backslash_on_wildcard_field", "sel:\n  CommandLine|re: '\\\\Temp\\\\'\ncondition: sel",
                {"match": {CMD: "copy C:\\Temp\\x"}, "no": {CMD: "copy C:/Temp/x"}},
                {"match"}, raises=KQL_RE),
    FeatureCase("re_untranslatable", "word_boundary", "sel:\n  OriginalFileName|re: 'foo\\bbar'\ncondition: sel",
                {"x": {OFN: "foo"}}, set(), raises={**everywhere(r"the escape '\\b' has no Lucene equivalent"), **KQL_RE}),
    # --- cidr --------------------------------------------------------------------------------------
    FeatureCase("cidr_ip", "ipv4", "sel:\n  DestinationIp|cidr: '10.1.0.0/23'\ncondition: sel",
                {"first": {"destination.ip": "10.1.0.0"}, "inside": {"destination.ip": "10.1.1.255"},
                 "after": {"destination.ip": "10.1.2.0"}, "v6": {"destination.ip": "::1"}, "missing": {}},
                {"first", "inside"}, logsource="network_connection"),
    FeatureCase("cidr_ip", "ipv6", "sel:\n  DestinationIp|cidr: '2001:db8::/32'\ncondition: sel",
                {"short": {"destination.ip": "2001:db8::1"}, "long_form": {"destination.ip": "2001:0DB8:ffff:0:0:0:0:1"},
                 "after": {"destination.ip": "2001:db9::1"}, "v4": {"destination.ip": "10.0.0.1"}},
                {"short", "long_form"}, logsource="network_connection"),
    # An ip field can never hold '-': no hit, and the query must still run (an ip term '-' fails it).
    FeatureCase("non_ip_on_ip", "dash", "sel:\n  DestinationIp: '-'\ncondition: sel",
                {"v4": {"destination.ip": "10.0.0.1"}, "missing": {}}, set(), logsource="network_connection"),
    FeatureCase("non_ip_on_ip", "not_dash_or_ip", "sel:\n  DestinationIp:\n    - '-'\n    - '10.0.0.0/8'\n"
                "other:\n  DestinationIp: '10.0.0.1'\ncondition: not sel or other",
                {"v4": {"destination.ip": "10.0.0.1"}, "v4_other": {"destination.ip": "10.0.0.2"}, "missing": {}},
                {"v4", "v4_other", "missing"}, logsource="network_connection"),
    FeatureCase("cidr_keyword", "ipv4_23", "sel:\n  QueryName|cidr: '10.1.0.0/23'\ncondition: sel",
                {"inside": {"dns.question.name": "10.1.0.5"},
                 "second": {"dns.question.name": "10.1.1.255"},
                 "after": {"dns.question.name": "10.1.2.1"},
                 "longer_octet": {"dns.question.name": "110.1.0.5"},
                 "not_an_ip": {"dns.question.name": "10.1.0.5.example"},
                 "octet_overflow": {"dns.question.name": "10.1.0.256"},
                 "leading_zero": {"dns.question.name": "10.1.0.05"}},
                {"inside", "second"}, logsource="dns_query"),
    FeatureCase("cidr_keyword", "ipv4_32_and_8", "sel:\n  QueryName|cidr:\n    - '192.168.1.1/32'\n    - '172.0.0.0/8'\ncondition: sel",
                {"host": {"dns.question.name": "192.168.1.1"},
                 "host_longer": {"dns.question.name": "192.168.1.10"},
                 "net8": {"dns.question.name": "172.200.3.4"},
                 "net8_short": {"dns.question.name": "172.200.3"}},
                {"host", "net8"}, logsource="dns_query", raises={"es_kql": "cidr 172.0.0.0/8 on keyword field .* at most 1024 addresses"}),
    FeatureCase("cidr_keyword_ipv6", "ipv6", "sel:\n  QueryName|cidr: '2001:db8::/32'\ncondition: sel",
                {"x": {"dns.question.name": "2001:db8::1"}}, set(), logsource="dns_query",
                raises=everywhere("IPv6 text has several spellings")),
    # --- exists / null -----------------------------------------------------------------------------
    FeatureCase("exists", "true", "sel:\n  LogonId|exists: true\ncondition: sel",
                {"present": {LOGON: "0x1"}, "empty": {LOGON: ""}, "missing": {}}, {"present", "empty"}),
    FeatureCase("exists", "false", "sel:\n  LogonId|exists: false\ncondition: sel",
                {"present": {LOGON: "0x1"}, "empty": {LOGON: ""}, "missing": {}}, {"missing"}),
    FeatureCase("null", "null", "sel:\n  LogonId: null\ncondition: sel",
                {"present": {LOGON: "0x1"}, "empty": {LOGON: ""}, "missing": {}}, {"missing"}),
    FeatureCase("null", "not_null", "sel:\n  LogonId: null\ncondition: not sel",
                {"present": {LOGON: "0x1"}, "empty": {LOGON: ""}, "missing": {}}, {"present", "empty"}),
    # --- comparisons -------------------------------------------------------------------------------
    *[FeatureCase("compare", op, f"sel:\n  ProcessId|{op}: 100\ncondition: sel",
                  {"p99": {PID: 99}, "p100": {PID: 100}, "p101": {PID: 101}, "missing": {}}, expected)
      for op, expected in (("lt", {"p99"}), ("lte", {"p99", "p100"}), ("gt", {"p101"}), ("gte", {"p100", "p101"}))],
    FeatureCase("compare", "negated", "sel:\n  ProcessId|gt: 100\ncondition: not sel",
                {"p99": {PID: 99}, "p101": {PID: 101}, "missing": {}}, {"p99", "missing"}),
    # --- neq ---------------------------------------------------------------------------------------
    FeatureCase("neq", "string", "sel:\n  OriginalFileName|neq: 'cmd.exe'\ncondition: sel",
                {"same": {OFN: "cmd.exe"}, "upper": {OFN: "CMD.EXE"}, "other": {OFN: "x.exe"}, "missing": {}},
                {"other", "missing"}, raises=KQL_CASE),
    FeatureCase("neq", "caseless", "sel:\n  Image|neq: 'C:\\Windows\\System32\\cmd.exe'\ncondition: sel",
                {"same": {EXE: CMD_EXE}, "upper": {EXE: CMD_EXE.upper()}, "other": {EXE: "C:\\x.exe"}, "missing": {}},
                {"other", "missing"}),
    FeatureCase("neq", "with_other_condition", "sel:\n  Image|endswith: '\\cmd.exe'\n  OriginalFileName|neq: 'cmd.exe'\ncondition: sel",
                {"renamed": {EXE: CMD_EXE, OFN: "evil.exe"}, "genuine": {EXE: CMD_EXE, OFN: "Cmd.Exe"},
                 "no_ofn": {EXE: CMD_EXE}, "other_image": {EXE: "C:\\x.exe", OFN: "evil.exe"}},
                {"renamed", "no_ofn"}, raises=KQL_CASE),
    # --- numbers / booleans ------------------------------------------------------------------------
    FeatureCase("numbers_booleans", "number_on_long", "sel:\n  ProcessId: 4\ncondition: sel",
                {"four": {PID: 4}, "forty": {PID: 40}, "missing": {}}, {"four"}),
    FeatureCase("numbers_booleans", "number_on_keyword", "sel:\n  TerminalSessionId: 1\ncondition: sel",
                {"one": {"winlog.event_data.TerminalSessionId": "1"}, "ten": {"winlog.event_data.TerminalSessionId": "10"},
                 "zero_one": {"winlog.event_data.TerminalSessionId": "01"}},
                {"one"}),
    # Sysmon's Signed stays a "true"/"false" string in winlog.event_data (the windows integration never
    # sets file.code_signature.signed from it): string and YAML boolean values both match the text.
    FeatureCase("numbers_booleans", "string_on_boolean", "sel:\n  Signed: 'false'\ncondition: sel",
                {"unsigned": {"winlog.event_data.Signed": "false"}, "signed": {"winlog.event_data.Signed": "true"},
                 "missing": {}},
                {"unsigned"}, logsource="image_load"),
    FeatureCase("numbers_booleans", "boolean_on_boolean", "sel:\n  Signed: true\ncondition: sel",
                {"unsigned": {"winlog.event_data.Signed": "false"}, "signed": {"winlog.event_data.Signed": "true"}},
                {"signed"}, logsource="image_load"),
    # --- conditions --------------------------------------------------------------------------------
    FeatureCase("conditions", "one_of_pattern",
                "sel_a:\n  OriginalFileName: a.exe\nsel_b:\n  OriginalFileName: b.exe\nother:\n  LogonId: '0x1'\n"
                "condition: 1 of sel_*",
                {"a": {OFN: "a.exe"}, "b": {OFN: "B.EXE"}, "c_other": {OFN: "c.exe", LOGON: "0x1"}},
                {"a", "b"}),
    FeatureCase("conditions", "all_of_pattern",
                "sel_a:\n  OriginalFileName: a.exe\nsel_b:\n  LogonId: '0x1'\ncondition: all of sel_*",
                {"both": {OFN: "a.exe", LOGON: "0x1"}, "a": {OFN: "a.exe"}, "b": {LOGON: "0x1"}},
                {"both"}),
    FeatureCase("conditions", "one_of_them",
                "x:\n  OriginalFileName: a.exe\ny:\n  LogonId: '0x1'\ncondition: 1 of them",
                {"both": {OFN: "a.exe", LOGON: "0x1"}, "a": {OFN: "a.exe"}, "b": {LOGON: "0x1"}, "none": {}},
                {"both", "a", "b"}),
    FeatureCase("conditions", "all_of_them",
                "x:\n  OriginalFileName: a.exe\ny:\n  LogonId: '0x1'\ncondition: all of them",
                {"both": {OFN: "a.exe", LOGON: "0x1"}, "a": {OFN: "a.exe"}, "none": {}},
                {"both"}),
    FeatureCase("conditions", "value_list_and_map_list",
                "sel:\n  - OriginalFileName: [a.exe, b.exe]\n  - LogonId: '0x1'\ncondition: sel",
                {"a": {OFN: "a.exe"}, "b": {OFN: "b.exe"}, "logon": {LOGON: "0x1"}, "none": {OFN: "c.exe"}},
                {"a", "b", "logon"}),
    FeatureCase("conditions", "nested_not_and_or",
                "s1:\n  OriginalFileName: a.exe\ns2:\n  OriginalFileName: b.exe\nf1:\n  LogonId: '0x1'\n"
                "f2:\n  CurrentDirectory: 'C:\\ok'\ncondition: (s1 or s2) and not (f1 and not f2)",
                {"a_plain": {OFN: "a.exe"}, "b_plain": {OFN: "b.exe"},
                 "a_f1": {OFN: "a.exe", LOGON: "0x1"}, "a_f1_f2": {OFN: "a.exe", LOGON: "0x1", CWD: "c:\\OK"},
                 "a_f2": {OFN: "a.exe", CWD: "C:\\ok"}, "c_plain": {OFN: "c.exe"}},
                {"a_plain", "b_plain", "a_f1_f2", "a_f2"}),
    FeatureCase("conditions", "or_not",
                "s1:\n  OriginalFileName: a.exe\nf1:\n  LogonId: '0x1'\ncondition: s1 or not f1",
                {"a_f1": {OFN: "a.exe", LOGON: "0x1"}, "b_f1": {OFN: "b.exe", LOGON: "0x1"},
                 "b_other": {OFN: "b.exe", LOGON: "0x2"}, "b_missing": {OFN: "b.exe"}},
                {"a_f1", "b_other", "b_missing"}),
    FeatureCase("conditions", "double_not",
                "s1:\n  OriginalFileName: a.exe\ncondition: not (not s1)",
                {"a": {OFN: "A.exe"}, "b": {OFN: "b.exe"}, "missing": {}}, {"a"}),
    # --- special values ---------------------------------------------------------------------------
    FeatureCase("special_values", "trailing_backslash", "sel:\n  Image: 'C:\\Windows\\'\ncondition: sel",
                {"exact": {EXE: "C:\\Windows\\"}, "lower": {EXE: "c:\\windows\\"}, "no_backslash": {EXE: "C:\\Windows"},
                 "two_backslashes": {EXE: "C:\\Windows\\\\"}},
                {"exact", "lower"}),
    FeatureCase("special_values", "trailing_backslash_keyword", "sel:\n  OriginalFileName|startswith: 'C:\\T\\'\ncondition: sel",
                {"match": {OFN: "c:\\t\\x"}, "no": {OFN: "C:\\Tx"}}, {"match"}),
    FeatureCase("special_values", "trailing_backslash_wildcard_field", "sel:\n  CommandLine|endswith: 'dir C:\\'\ncondition: sel",
                {"match": {CMD: "cmd /c DIR c:\\"}, "no": {CMD: "cmd /c dir C:"}}, {"match"}, raises=KQL_SPACE),
    FeatureCase("special_values", "quotes", "sel:\n  OriginalFileName: 'say \"hi\" it''s'\ncondition: sel",
                {"exact": {OFN: "say \"hi\" it's"}, "upper": {OFN: "SAY \"HI\" IT'S"}, "no_quotes": {OFN: "say hi its"}},
                {"exact", "upper"}, raises=KQL_CASE),
    FeatureCase("special_values", "reserved_keyword", f"sel:\n  OriginalFileName: '{RESERVED_SIGMA}'\ncondition: sel",
                {"exact": {OFN: RESERVED}, "upper": {OFN: RESERVED.upper()},
                 "star_wildcard": {OFN: RESERVED.replace("*", "XY")}, "qmark_wildcard": {OFN: RESERVED.replace("?", "Z")}},
                {"exact", "upper"}, raises=KQL_CASE),
    FeatureCase("special_values", "reserved_caseless", f"sel:\n  Image|contains: '{RESERVED_SIGMA}'\ncondition: sel",
                {"exact": {EXE: "<" + RESERVED + ">"}, "upper": {EXE: RESERVED.upper()},
                 "star_wildcard": {EXE: RESERVED.replace("*", "XY")}},
                {"exact", "upper"}, raises=KQL_SPACE),
    FeatureCase("special_values", "reserved_cased", f"sel:\n  Image|cased|endswith: '{RESERVED_SIGMA}'\ncondition: sel",
                {"exact": {EXE: "x" + RESERVED}, "upper": {EXE: RESERVED.upper()}}, {"exact"}, raises=KQL_SPACE),
    FeatureCase("special_values", "reserved_wildcard_field", f"sel:\n  CommandLine|contains: '{RESERVED_SIGMA}'\ncondition: sel",
                {"exact": {CMD: "<" + RESERVED + ">"}, "upper": {CMD: RESERVED.upper()},
                 "star_wildcard": {CMD: RESERVED.replace("*", "XY")}},
                {"exact", "upper"}, raises=KQL_CASE),
    FeatureCase("special_values", "unicode", "sel:\n  OriginalFileName|contains: 'Ünï✓日本'\ncondition: sel",
                {"exact": {OFN: "x Ünï✓日本 y"}, "lower": {OFN: "ünï✓日本"}, "upper": {OFN: "ÜNÏ✓日本"},
                 "other": {OFN: "Uni✓日本"}},
                {"exact", "lower", "upper"}),
    FeatureCase("special_values", "empty_string", "sel:\n  OriginalFileName: ''\ncondition: sel",
                {"empty": {OFN: ""}, "space": {OFN: " "}, "x": {OFN: "x"}, "missing": {}}, {"empty"}),
    FeatureCase("special_values", "empty_string_caseless", "sel:\n  Image: ''\ncondition: sel",
                {"empty": {EXE: ""}, "x": {EXE: "x"}, "missing": {}}, {"empty"}),
    # --- not yet / never ---------------------------------------------------------------------------
    FeatureCase("fieldref", "equals", "sel:\n  Image|fieldref: ParentImage\ncondition: sel",
                {"same": {EXE: CMD_EXE, PARENT: CMD_EXE}, "other_case": {EXE: CMD_EXE, PARENT: CMD_EXE.upper()},
                 "prefix": {EXE: CMD_EXE, PARENT: CMD_EXE[:-1]}, "longer": {EXE: CMD_EXE, PARENT: CMD_EXE + "x"},
                 "no_parent": {EXE: CMD_EXE}, "neither": {}},
                {"same", "other_case"}, raises=FIELDREF_NO, default_format_raises=LUCENE_FIELDREF),
    FeatureCase("fieldref", "negated", "sel:\n  Image|fieldref: ParentImage\ncondition: not sel",
                {"same": {EXE: CMD_EXE, PARENT: CMD_EXE}, "other": {EXE: CMD_EXE, PARENT: "C:\\x.exe"},
                 "no_parent": {EXE: CMD_EXE}, "neither": {}},
                {"other", "no_parent", "neither"}, raises=FIELDREF_NO, default_format_raises=LUCENE_FIELDREF),
    FeatureCase("fieldref", "startswith", "sel:\n  Image|fieldref|startswith: CurrentDirectory\ncondition: sel",
                {"inside": {EXE: "C:\\Temp\\x.exe", CWD: "c:\\temp\\"}, "elsewhere": {EXE: "C:\\Temp\\x.exe", CWD: "C:\\Other\\"},
                 "equal": {EXE: "C:\\a", CWD: "C:\\A"}, "no_cwd": {EXE: "C:\\a"}},
                {"inside", "equal"}, raises=FIELDREF_NO, default_format_raises=LUCENE_FIELDREF),
    FeatureCase("fieldref", "endswith", "sel:\n  Image|fieldref|endswith: OriginalFileName\ncondition: sel",
                {"same_name": {EXE: "C:\\x\\CMD.EXE", OFN: "cmd.exe"}, "renamed": {EXE: "C:\\x\\evil.exe", OFN: "cmd.exe"},
                 "suffix_only_inside": {EXE: "C:\\x\\cmd.exe.bak", OFN: "cmd.exe"}},
                {"same_name"}, raises=FIELDREF_NO, default_format_raises=LUCENE_FIELDREF),
    FeatureCase("fieldref", "contains", "sel:\n  Image|fieldref|contains: OriginalFileName\ncondition: sel",
                {"inside": {EXE: "C:\\cmd.exe\\x", OFN: "CMD.exe"}, "not_inside": {EXE: "C:\\x", OFN: "cmd.exe"}},
                {"inside"}, raises=FIELDREF_NO, default_format_raises=LUCENE_FIELDREF),
    FeatureCase("fieldref", "wildcard_field", "sel:\n  CommandLine|fieldref: ParentCommandLine\ncondition: sel",
                {"same": {CMD: "x", "process.parent.command_line": "x"}}, set(),
                raises={**everywhere("fieldref.* on wildcard field 'process.command_line'"), **FIELDREF_NO}),
    # --- fieldref across the split User field (user.domain + "\\" + user.name), both directions -----
    *[FeatureCase("fieldref_split", f"equals_{name}", f"sel:\n  {detection}\ncondition: sel",
                  {"same": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "CORP\\alice"},
                   "other_case": {DOMAIN: "corp", NAME: "ALICE", PARENT_USER: "Corp\\Alice"},
                   "other_user": {DOMAIN: "CORP", NAME: "bob", PARENT_USER: "CORP\\alice"},
                   "other_domain": {DOMAIN: "WS1", NAME: "alice", PARENT_USER: "CORP\\alice"},
                   "no_separator": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "CORPalice"},
                   "no_domain": {NAME: "alice", PARENT_USER: "\\alice"},
                   "no_domain_bare": {NAME: "alice", PARENT_USER: "alice"},
                   "no_parent": {DOMAIN: "CORP", NAME: "alice"}, "neither": {}},
                  {"same", "other_case"}, raises=SPLIT_FIELDREF_NO, default_format_raises=SPLIT_LUCENE_FIELDREF)
      for name, detection in (("user_to_parent", "User|fieldref: ParentUser"),
                              ("parent_to_user", "ParentUser|fieldref: User"))],
    FeatureCase("fieldref_split", "negated", "sel:\n  User|fieldref: ParentUser\ncondition: not sel",
                {"same": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "corp\\ALICE"},
                 "other_user": {DOMAIN: "CORP", NAME: "bob", PARENT_USER: "CORP\\alice"},
                 "no_domain": {NAME: "alice", PARENT_USER: "\\alice"},
                 "no_name": {DOMAIN: "CORP", PARENT_USER: "CORP\\"},
                 "no_parent": {DOMAIN: "CORP", NAME: "alice"}, "neither": {}},
                {"other_user", "no_domain", "no_name", "no_parent", "neither"}, raises=SPLIT_FIELDREF_NO, default_format_raises=SPLIT_LUCENE_FIELDREF),
    FeatureCase("fieldref_split", "negated_parent_to_user", "sel:\n  ParentUser|fieldref: User\ncondition: not sel",
                {"same": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "CORP\\alice"},
                 "other_user": {DOMAIN: "CORP", NAME: "bob", PARENT_USER: "CORP\\alice"},
                 "no_name": {DOMAIN: "CORP", PARENT_USER: "CORP\\"}},
                {"other_user", "no_name"}, raises=SPLIT_FIELDREF_NO, default_format_raises=SPLIT_LUCENE_FIELDREF),
    # User starts with / ends with / contains ParentUser's value, and ParentUser … User's.
    FeatureCase("fieldref_split", "user_startswith_parent", "sel:\n  User|fieldref|startswith: ParentUser\ncondition: sel",
                {"domain": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "corp\\"},
                 "part_of_domain": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "CO"},
                 "equal": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "CORP\\ALICE"},
                 "longer": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "CORP\\alice2"},
                 "name_only": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "alice"},
                 "no_domain": {NAME: "alice", PARENT_USER: "alice"}},
                {"domain", "part_of_domain", "equal"}, raises=SPLIT_FIELDREF_NO, default_format_raises=SPLIT_LUCENE_FIELDREF),
    FeatureCase("fieldref_split", "parent_startswith_user", "sel:\n  ParentUser|fieldref|startswith: User\ncondition: sel",
                {"longer": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "CORP\\ALICE2"},
                 "equal": {DOMAIN: "corp", NAME: "alice", PARENT_USER: "CORP\\alice"},
                 "shorter": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "CORP\\ali"},
                 "no_domain": {NAME: "alice", PARENT_USER: "\\alice"}},
                {"longer", "equal"}, raises=SPLIT_FIELDREF_NO, default_format_raises=SPLIT_LUCENE_FIELDREF),
    FeatureCase("fieldref_split", "user_endswith_parent", "sel:\n  User|fieldref|endswith: ParentUser\ncondition: sel",
                {"name": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "\\ALICE"},
                 "part_of_name": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "ice"},
                 "domain": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "CORP"},
                 "no_domain": {NAME: "alice", PARENT_USER: "alice"}},
                {"name", "part_of_name"}, raises=SPLIT_FIELDREF_NO, default_format_raises=SPLIT_LUCENE_FIELDREF),
    FeatureCase("fieldref_split", "parent_contains_user", "sel:\n  ParentUser|fieldref|contains: User\ncondition: sel",
                {"inside": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "x Corp\\Alice y"},
                 "apart": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: "CORP alice"},
                 "no_name": {DOMAIN: "CORP", PARENT_USER: "CORP\\"}},
                {"inside"}, raises=SPLIT_FIELDREF_NO, default_format_raises=SPLIT_LUCENE_FIELDREF),
    FeatureCase("fieldref_split", "user_to_user", "sel:\n  User|fieldref: User\ncondition: sel",
                {"present": {DOMAIN: "CORP", NAME: "alice"}, "no_domain": {NAME: "alice"}},
                {"present"}, raises=SPLIT_FIELDREF_NO, default_format_raises=SPLIT_LUCENE_FIELDREF),
    # Every combination of the parts' values (es_dsl's script; EQL reads an array's first value only and
    # ES|QL functions return null on multi-valued fields: README).
    FeatureCase("fieldref_split", "multi_valued", "sel:\n  User|fieldref: ParentUser\ncondition: sel",
                {"second_name": {DOMAIN: "CORP", NAME: ["alice", "bob"], PARENT_USER: "CORP\\bob"},
                 "second_domain": {DOMAIN: ["WS1", "CORP"], NAME: "alice", PARENT_USER: "corp\\alice"},
                 "second_parent": {DOMAIN: "CORP", NAME: "alice", PARENT_USER: ["x", "CORP\\alice"]},
                 "mixed": {DOMAIN: ["WS1", "CORP"], NAME: ["alice", "bob"], PARENT_USER: "WS2\\bob"}},
                {"second_name", "second_domain", "second_parent"}, raises=SPLIT_FIELDREF_NO,
                default_format_raises=SPLIT_LUCENE_FIELDREF,
                backends=("es_lucene", "es_dsl", "es_kql")),
    *[FeatureCase("timestamp_parts", part, f"sel:\n  UtcTime|{part}: {value}\ncondition: sel",
                  {"match": {TS: match}, "other": {TS: other}}, {"match"}, raises=NO_DATE_PARTS)
      for part, value, match, other in (
          ("minute", 5, "2026-11-27T10:05:59.999Z", "2026-11-27T05:10:00.000Z"),
          ("hour", 10, "2026-11-27T10:05:00.000Z", "2026-11-27T11:10:00.000Z"),
          ("day", 27, "2026-11-27T10:00:00.000Z", "2026-11-26T23:59:59.999Z"),
          ("month", 2, "2024-02-29T00:00:00.000Z", "2024-03-01T00:00:00.000Z"),
          ("year", 2026, "2026-01-01T00:00:00.000Z", "2025-12-31T23:59:59.999Z"))],
    FeatureCase("timestamp_parts", "negated", "sel:\n  UtcTime|hour: 10\ncondition: not sel",
                {"ten": {TS: "2026-11-27T10:00:00.000Z"}, "eleven": {TS: "2026-11-27T11:00:00.000Z"}},
                {"eleven"}, raises=NO_DATE_PARTS),
    FeatureCase("timestamp_week", "week", "sel:\n  UtcTime|week: 48\ncondition: sel",
                {"x": {TS: "2026-11-27T10:00:00.000Z"}}, set(),
                raises={**everywhere("Sigma does not define the week numbering"), **NO_DATE_PARTS}),
    FeatureCase("timestamp_parts", "keyword_field", "sel:\n  LogonId|hour: 10\ncondition: sel",
                {"x": {LOGON: "10"}}, set(),
                raises={**everywhere("only date fields have parts"), **NO_DATE_PARTS}),
    FeatureCase("keywords", "plain", "keywords:\n  - 'mimikatz'\ncondition: keywords",
                {"x": {CMD: "mimikatz"}}, {"x"},
                raises={**everywhere("ECS events have no single raw-text field"), "es_kql": "keywords"}),
    FeatureCase("expand", "pipeline_values", "sel:\n  OriginalFileName|expand: '%admin_tools%'\ncondition: sel",
                {"first": {OFN: "x1"}, "second_upper": {OFN: "Y2"}, "other": {OFN: "z3"}, "literal": {OFN: "%admin_tools%"}},
                {"first", "second_upper"}, pipeline_vars={"admin_tools": ["x1", "y2"]}),
    FeatureCase("expand_missing", "no_pipeline_value", "sel:\n  OriginalFileName|expand: '%admin_tools%'\ncondition: sel",
                {"x": {OFN: "x"}}, set(), raises=everywhere("placeholder %admin_tools% has no value")),
    # ES|QL compares the whole value of a text field; the other languages would match analyzed terms.
    FeatureCase("text_fields", "contains", "sel:\n  CommandLine|contains: 'new-object net.'\ncondition: sel",
                {"substring_upper": {CMD: "$a = New-Object Net.WebClient"}, "terms_reordered": {CMD: "net. new-object"},
                 "other": {CMD: "new-objectnet."}, "missing": {}},
                {"substring_upper"}, field_types={CMD: "match_only_text"},
                raises=TEXT_FIELD),
    FeatureCase("text_fields", "equals_startswith_re", "sel1:\n  CommandLine: 'Get-Process'\n"
                "sel2:\n  CommandLine|startswith: 'iex '\nsel3:\n  CommandLine|re: '^a[0-9]+b$'\n"
                "condition: 1 of sel*",
                {"eq_lower": {CMD: "get-process"}, "eq_longer": {CMD: "Get-Process -Id 4"}, "starts": {CMD: "IEX (x)"},
                 "starts_later": {CMD: "x; iex (x)"}, "re": {CMD: "a12b"}, "re_inner": {CMD: "xa12b"}},
                {"eq_lower", "starts", "re"}, field_types={CMD: "match_only_text"},
                raises=TEXT_FIELD),
    FeatureCase("text_fields", "not_contains", "sel:\n  CommandLine|contains: 'x'\ncondition: not sel",
                {"has": {CMD: "aXb"}, "without": {CMD: "abc"}, "missing": {}},
                {"without", "missing"}, field_types={CMD: "match_only_text"},
                raises=TEXT_FIELD),
]


def case_pipeline(case: FeatureCase) -> ProcessingPipeline:
    """The ECS pipeline, with the case's field type overrides layered on top."""
    pipeline = ecs_pipeline()
    if case.pipeline_vars:  # what a user's pipeline does: `type: value_placeholders` with `vars:`
        pipeline = pipeline + ProcessingPipeline(items=[ProcessingItem(
            identifier="test_placeholders", transformation=ValueListPlaceholderTransformation())],
            vars=case.pipeline_vars)
    if not case.field_types:
        return pipeline
    caps = {**default_mapping_set().field_capabilities,
            **{name: FieldCapabilities(type=kind) for name, kind in case.field_types.items()}}
    return pipeline + ProcessingPipeline(items=[ProcessingItem(
        identifier="test_field_types", transformation=SetStateTransformation(FIELD_CAPABILITIES_STATE, caps))])


# The live cluster is OpenSearch: es_lucene is asked for queries valid there.
BACKEND_OPTIONS: dict[str, dict[str, str]] = {"es_lucene": {"engine": "opensearch"},
                                              "es_dsl": {"engine": "opensearch"}}


def convert_case(case: FeatureCase, target: str, output_format: str = "default") -> str:
    backend = backends[target](processing_pipeline=case_pipeline(case), **BACKEND_OPTIONS.get(target, {}))
    (query,) = backend.convert(SigmaCollection.from_yaml(case.rule), output_format)
    return query
