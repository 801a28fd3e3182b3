"""Bulk-load raw events (EVTX / JSON / NDJSON) into an index as ECS documents.

The index is created with production ECS field types when it does not exist yet. A record that
cannot be read or that the cluster rejects is counted and reported; the others still load.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch

from sigma_es_backend.events.readers import Record, read_records
from sigma_es_backend.events.templates import ecs_index_body

BULK_CHUNK = 500


@dataclass
class IngestResult:
    loaded: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (location, reason)

    @property
    def failed(self) -> int:
        return len(self.failures)


def ensure_index(client: OpenSearch, index: str, flavor: str) -> None:
    if not client.indices.exists(index=index):
        client.indices.create(index=index, body=ecs_index_body(flavor=flavor))


def iter_records(paths: Iterable[Path]) -> Iterator[Record]:
    for path in paths:
        yield from read_records(path)


def _bulk(client: OpenSearch, index: str, batch: list[tuple[Record, str | None]], result: IngestResult) -> None:
    lines: list[str] = []
    for record, doc_id in batch:
        action: dict[str, Any] = {"_index": index}
        if doc_id is not None:
            action["_id"] = doc_id
        lines.append(json.dumps({"index": action}))
        lines.append(json.dumps(record.document))
    response = client.bulk(body="\n".join(lines) + "\n")
    for (record, _), item in zip(batch, response["items"], strict=True):
        outcome = item.get("index", {})
        if outcome.get("error"):
            error = outcome["error"]
            result.failures.append((record.location, f"{error.get('type')}: {error.get('reason')}"))
        else:
            result.loaded += 1


def ingest(client: OpenSearch, index: str, records: Iterable[Record], flavor: str = "opensearch",
           progress: Callable[[int], Any] | None = None, refresh: bool = True,
           ids: Iterable[str] | None = None) -> IngestResult:
    """Load every readable record into `index` (document ids from `ids` when given, in record order);
    `progress(1)` is called after each record read."""
    ensure_index(client, index, flavor)
    result = IngestResult()
    batch: list[tuple[Record, str | None]] = []
    id_iter = iter(ids) if ids is not None else None
    for record in records:
        doc_id = next(id_iter) if id_iter is not None else None
        if record.document is None:
            result.failures.append((record.location, record.error or "unreadable"))
        else:
            batch.append((record, doc_id))
            if len(batch) >= BULK_CHUNK:
                _bulk(client, index, batch, result)
                batch = []
        if progress is not None:
            progress(1)
    if batch:
        _bulk(client, index, batch, result)
    if refresh:
        client.indices.refresh(index=index)
    return result
