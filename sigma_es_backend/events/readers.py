"""Read raw events from EVTX, JSON (one object, an array, or concatenated objects) and NDJSON files.

Each record comes with its location ("file.evtx#record 42", "file.json#3") so that a bad record is
reported and skipped, never fatal for the rest of the file. Objects that are already ECS documents
(no `Event` key, but `@timestamp`/`event`/`winlog`) pass through unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigma_es_backend.events.normalize import EventShapeError, normalize_event

EVTX_SUFFIXES = (".evtx",)


@dataclass(frozen=True)
class Record:
    """One input record: its ECS document, or why it could not become one."""

    location: str
    document: dict[str, Any] | None = None
    error: str | None = None


def _evtx_records(path: Path) -> Iterator[tuple[str, Any]]:
    import evtx  # Rust-backed parser; imported here so JSON-only use needs no native wheel

    parser = evtx.PyEvtxParser(str(path))
    records = parser.records_json()
    index = 0
    while True:
        index += 1
        try:
            record = next(records)
        except StopIteration:
            return
        except (RuntimeError, OSError, ValueError) as error:
            yield f"{path}#record {index}", error
            return
        yield f"{path}#record {record['event_record_id']}", record["data"]


def _json_values(path: Path) -> Iterator[tuple[str, Any]]:
    """Objects of a JSON/NDJSON file: one document, an array, or objects one after another."""
    text = path.read_text(encoding="utf-8-sig")
    decoder = json.JSONDecoder()
    position, index = 0, 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return
        index += 1
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            yield f"{path}#{index}", error
            # Resynchronise on the next line: NDJSON keeps going after one broken line.
            next_line = text.find("\n", position)
            if next_line < 0:
                return
            position = next_line + 1
            continue
        if isinstance(value, list):
            for offset, item in enumerate(value):
                yield f"{path}#{index}.{offset + 1}", item
        else:
            yield f"{path}#{index}", value


def _to_document(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, dict) and "Event" not in value and ({"@timestamp", "winlog", "event"} & set(value)):
        return value
    return normalize_event(value)


def read_records(path: Path) -> Iterator[Record]:
    """ECS documents of every record in `path` (EVTX by suffix, else JSON/NDJSON)."""
    try:
        values = _evtx_records(path) if path.suffix.lower() in EVTX_SUFFIXES else _json_values(path)
        for location, value in values:
            if isinstance(value, Exception):
                yield Record(location, error=f"unreadable record: {value}")
                continue
            try:
                yield Record(location, _to_document(value))
            except (EventShapeError, json.JSONDecodeError, TypeError, ValueError) as error:
                yield Record(location, error=str(error))
    except (OSError, UnicodeDecodeError, RuntimeError) as error:
        yield Record(str(path), error=f"cannot read file: {error}")
