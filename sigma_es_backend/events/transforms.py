"""Value transforms named by the `as:` key of the normalizer's YAML rules (the registry is the schema).

Each transform takes the raw string and returns the value to store at the rule's target, a dict of
sub-fields to merge under the target (e.g. hashes → {"hash.md5": …, "pe.imphash": …}), or None to
store nothing, as the integration's ingest pipeline skips a value it cannot convert.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

Transform = Callable[[str], Any]


def _long(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


def _hex_long(value: str) -> int | None:
    """Security auditing writes process ids as hex ("0x1a2c")."""
    try:
        return int(value.strip(), 0) if value.strip().lower().startswith("0x") else int(value.strip())
    except ValueError:
        return None


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def _boolean(value: str) -> bool | None:
    return {"true": True, "false": False}.get(value.strip().lower())


def _hashes(value: str) -> dict[str, str]:
    """"MD5=…,SHA256=…,IMPHASH=…" → hash.md5 / hash.sha256 / pe.imphash, lowercase, all-zero hashes dropped."""
    fields: dict[str, str] = {}
    for part in value.split(","):
        algorithm, sep, digest = part.partition("=")
        digest = digest.strip().lower()
        if not sep or not digest or set(digest) == {"0"}:
            continue
        algorithm = algorithm.strip().lower()
        fields["pe.imphash" if algorithm == "imphash" else f"hash.{algorithm}"] = digest
    return fields


def _domain_user(value: str) -> dict[str, str] | None:
    """"DOMAIN\\name" → domain + name; any other shape sets neither (the integration's split needs two parts)."""
    parts = value.split("\\")
    if len(parts) != 2:
        return None
    return {k: v for k, v in (("domain", parts[0]), ("name", parts[1])) if v}


def _windows_basename(value: str) -> str | None:
    """Name after the last backslash; a path without one gives no name (as the integration's script)."""
    index = value.rfind("\\")
    return value[index + 1:] or None if index > -1 else None


def _windows_file_parts(value: str) -> dict[str, str] | None:
    index = value.rfind("\\")
    if index < 0:
        return None
    parts = {"name": value[index + 1:], "directory": value[:index]}
    extension = value.rfind(".")
    if extension > -1:
        parts["extension"] = value[extension + 1:]
    return parts


def _windows_args(value: str) -> dict[str, Any]:
    """CommandLineToArgvW rules (the integration's SplitCommandLine, "prior to 2008" double quotes)."""
    args: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t":
            i += 1
        if i >= n:
            break
        arg: list[str] = []
        in_quote = False
        slashes = 0
        while i < n:
            c = value[i]
            if c in " \t" and not in_quote:
                i += 1
                break
            if c == '"':
                arg.append("\\" * (slashes // 2))
                if slashes % 2 == 0:
                    if in_quote and i + 1 < n and value[i + 1] == '"':
                        arg.append('"')
                        i += 1
                    in_quote = not in_quote
                else:
                    arg.append('"')
                slashes = 0
            elif c == "\\":
                slashes += 1
            else:
                arg.append("\\" * slashes + c)
                slashes = 0
            i += 1
        arg.append("\\" * slashes)
        args.append("".join(arg))
    return {"args": args, "args_count": len(args)} if args else {}


_HIVES = {"HKEY_CLASSES_ROOT": "HKCR", "HKCR": "HKCR", "HKEY_CURRENT_CONFIG": "HKCC", "HKCC": "HKCC",
          "HKEY_CURRENT_USER": "HKCU", "HKCU": "HKCU", "HKEY_DYN_DATA": "HKDD", "HKDD": "HKDD",
          "HKEY_LOCAL_MACHINE": "HKLM", "HKLM": "HKLM", "HKEY_PERFORMANCE_DATA": "HKPD", "HKPD": "HKPD",
          "HKEY_USERS": "HKU", "HKU": "HKU"}


def _sysmon_registry(value: str) -> dict[str, str]:
    tokens = value.split("\\")
    fields = {"path": value, "value": tokens[-1]}
    hive = _HIVES.get(tokens[0])
    if hive:
        fields["hive"] = hive
        if len(tokens) > 1:
            fields["key"] = "\\".join(tokens[1:])
    return fields


_QWORD = re.compile(r"(?i)QWORD \(((0x[0-9A-F]{8})-(0x[0-9A-F]{8}))\)")
_DWORD = re.compile(r"(?i)DWORD \((0x[0-9A-F]{8})\)")


def _sysmon_registry_data(value: str) -> dict[str, Any]:
    """Details → registry.data.strings/type. DWORD/QWORD become decimal strings, as the integration
    writes them; the original text stays in winlog.event_data.Details."""
    if match := _QWORD.fullmatch(value):
        # The integration computes (high << 8) + low (sic); reproduced so documents are identical.
        number = (int(match.group(2), 16) << 8) + int(match.group(3), 16)
        return {"strings": [str(number)], "type": "SZ_QWORD"}
    if match := _DWORD.fullmatch(value):
        return {"strings": [str(int(match.group(1), 16))], "type": "SZ_DWORD"}
    if value == "Binary Data":
        return {"strings": [value], "type": "REG_BINARY"}
    return {"strings": [value], "type": "REG_SZ"}


_DNS_TYPES = {"1": "A", "2": "NS", "5": "CNAME", "6": "SOA", "12": "PTR", "15": "MX", "16": "TXT", "28": "AAAA",
              "33": "SRV", "255": "ANY"}
_V4_MAPPED = re.compile(r"^\[?::ffff:([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)(?:\](?::[0-9]+)?)?$")


def _sysmon_dns_answers(value: str) -> dict[str, Any]:
    """"type:  5 host;::ffff:1.2.3.4;" → dns.answers (type/data) and dns.resolved_ip."""
    answers: list[dict[str, str]] = []
    ips: list[str] = []
    for answer in value.split(";"):
        if not answer:
            continue
        if answer.startswith("type:"):
            parts = answer.split()
            entry = {"type": _DNS_TYPES.get(parts[1], parts[1])} if len(parts) > 1 else {}
            if len(parts) == 3:
                entry["data"] = parts[2]
            answers.append(entry)
        else:
            ip = _ip(_V4_MAPPED.sub(r"\1", answer))
            if ip is not None:
                ips.append(ip)
    for ip in ips:
        answers.append({"type": "AAAA" if ":" in ip else "A", "data": ip})
    fields: dict[str, Any] = {}
    if answers:
        fields["answers"] = answers
    if ips:
        fields["resolved_ip"] = ips
    return fields


def _defender_path(value: str) -> str:
    """Defender prefixes paths with their kind ("file:_C:\\…"); the integration strips up to the last ":_"."""
    return re.sub(r".*:_", "", value, count=1)


TRANSFORMS: dict[str, Transform] = {
    "string": lambda value: value,
    "long": _long,
    "hex_long": _hex_long,
    "ip": _ip,
    "boolean": _boolean,
    "hashes": _hashes,
    "domain_user": _domain_user,
    "windows_basename": _windows_basename,
    "windows_file_parts": _windows_file_parts,
    "windows_args": _windows_args,
    "sysmon_registry": _sysmon_registry,
    "sysmon_registry_data": _sysmon_registry_data,
    "sysmon_dns_answers": _sysmon_dns_answers,
    "defender_path": _defender_path,
}
