"""Correlation test events and their expected groups, shared by the live es_dsl tests
(tests/live/test_correlations_live.py) and the es_esql evaluation (tests/unit/test_correlation_esql.py).

Explicit timestamps around a fixed END (no wall clock: a loaded machine cannot move an event across a
window boundary). The window is the 5 minutes before END. Boundary cases: exactly N, N-1, an event
exactly at the window start (inside), one 1 ms and one 1 s before it (outside), another rule's events,
events without a group-by value, several groups.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Any

import pytest

END = datetime(2026, 1, 1, tzinfo=UTC)
END_MS = int(END.timestamp() * 1000)
# pySigma 1.5 reads a condition's number with int(): 1.5 becomes 1 before any backend sees it
PYSIGMA_2_ONLY = pytest.mark.skipif(int(version("pysigma").split(".")[0]) < 2,
                                    reason="pySigma 1.5 truncates decimal correlation conditions")


def process(image: str, parent: str | None, seconds_before_end: float, directory: str = "x") -> dict[str, Any]:
    timestamp = (END - timedelta(seconds=seconds_before_end)).isoformat(timespec="milliseconds")
    doc: dict[str, Any] = {"@timestamp": timestamp, "event": {"category": ["process"], "type": ["start"], "code": "1"},
                           "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational"},
                           "process": {"executable": f"C:\\Windows\\System32\\{image}", "working_directory": directory}}
    if parent is not None:
        doc["process"]["parent"] = {"executable": parent}
    return doc


EVENTS: dict[str, dict[str, Any]] = {
    # x: exactly 3 whoami, 3 distinct working directories, and a net
    "x1": process("whoami.exe", "x", 30, "a"), "x2": process("whoami.exe", "x", 60, "b"),
    "x3": process("whoami.exe", "x", 90, "c"), "x4-net": process("net.exe", "x", 60, "c"),
    # y: 2 whoami (N-1), 2 distinct working directories; no net
    "y1": process("whoami.exe", "y", 30, "a"), "y2": process("whoami.exe", "y", 90, "b"),
    # z: 2 whoami inside and 1 a second outside (3 directories in all, 2 inside); its net outside
    "z1": process("whoami.exe", "z", 30, "a"), "z2": process("whoami.exe", "z", 60, "b"),
    "z3-out": process("whoami.exe", "z", 301, "c"), "z4-net-out": process("net.exe", "z", 420, "d"),
    # e: one whoami exactly at the window start (inside: gte), one 1 ms earlier (outside), one inside
    "e1-edge": process("whoami.exe", "e", 300, "a"), "e2-out": process("whoami.exe", "e", 300.001, "b"),
    "e3": process("whoami.exe", "e", 10, "c"),
    # w: 3 net only
    "w1": process("net.exe", "w", 30), "w2": process("net.exe", "w", 40), "w3": process("net.exe", "w", 50),
    # no parent: 3 whoami and a net, never a group
    "n1": process("whoami.exe", None, 30, "a"), "n2": process("whoami.exe", None, 40, "b"),
    "n3": process("whoami.exe", None, 50, "c"), "n4": process("net.exe", None, 50, "c"),
}
# process.pid: the digit in the event id (x: 1, 2, 3; y: 1, 2; z inside 1, 2; e inside 1, 3)
for _doc_id, _doc in EVENTS.items():
    _doc["process"]["pid"] = int(_doc_id[1])

WHOAMI = "[whoami]"
BOTH = "[whoami, net]"
# (correlation type, condition, referenced rules, groups expected), for rules grouped by ParentImage
CASES: list[Any] = [
    ("event_count", "{gte: 3}", WHOAMI, {"x"}), ("event_count", "{gt: 2}", WHOAMI, {"x"}),
    ("event_count", "{gt: 3}", WHOAMI, set()), ("event_count", "{eq: 2}", WHOAMI, {"y", "z", "e"}),
    ("event_count", "{lt: 3}", WHOAMI, {"y", "z", "e"}), ("event_count", "{lte: 3}", WHOAMI, {"x", "y", "z", "e"}),
    ("event_count", "{lt: 2}", WHOAMI, set()),
    ("event_count", "{gte: 3}", BOTH, {"x", "w"}),  # x: 3 whoami + 1 net; w: 3 net
    ("value_count", "{gte: 3, field: CurrentDirectory}", WHOAMI, {"x"}),
    ("value_count", "{eq: 3, field: CurrentDirectory}", WHOAMI, {"x"}),
    ("value_count", "{lt: 3, field: CurrentDirectory}", WHOAMI, {"y", "z", "e"}),
    ("value_count", "{eq: 2, field: CurrentDirectory}", WHOAMI, {"y", "z", "e"}),
    ("value_count", "{gt: 3, field: CurrentDirectory}", WHOAMI, set()),
    ("value_count", "{lte: 1, field: CurrentDirectory}", WHOAMI, set()),
    ("value_sum", "{gte: 6, field: ProcessId}", WHOAMI, {"x"}),
    ("value_sum", "{gte: 4, field: ProcessId}", WHOAMI, {"x", "e"}),
    ("value_sum", "{eq: 3, field: ProcessId}", WHOAMI, {"y", "z"}),  # z's pid 3 is outside
    ("value_sum", "{lt: 4, field: ProcessId}", WHOAMI, {"y", "z"}),
    ("value_sum", "{gt: 6, field: ProcessId}", WHOAMI, set()),
    ("value_avg", "{gte: 2, field: ProcessId}", WHOAMI, {"x", "e"}),
    ("value_avg", "{eq: 2, field: ProcessId}", WHOAMI, {"x", "e"}),
    ("value_avg", "{lt: 2, field: ProcessId}", WHOAMI, {"y", "z"}),
    ("value_avg", "{gt: 2, field: ProcessId}", WHOAMI, set()),
    pytest.param("value_avg", "{eq: 1.5, field: ProcessId}", WHOAMI, {"y", "z"}, marks=PYSIGMA_2_ONLY),
    pytest.param("value_avg", "{gt: 1.5, field: ProcessId}", WHOAMI, {"x", "e"}, marks=PYSIGMA_2_ONLY),
    ("temporal", None, BOTH, {"x"}),  # both rules inside the window
    ("temporal", "{gte: 1}", BOTH, {"x", "y", "z", "e", "w"}),
]


def case_id(case: Any) -> str:
    values = case.values if hasattr(case, "values") else case
    return f"{values[0]}-{values[1]}-{values[2]}"
