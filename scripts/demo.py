"""Main job, end to end on the local OpenSearch: convert the example rules, load sample events, show hits.

Grows with the project (deploy, ingest). Exit status is non-zero when a backend disagrees with another
or with the hits each example rule documents in `expected_hits` below.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

from opensearchpy import OpenSearch, helpers

from sigma_es_backend import cluster
from sigma_es_backend.conversion import convert_paths
from sigma_es_backend.events.templates import ecs_index_body
from sigma_es_backend.pipelines import default_mapping_set

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
ECS_DIR = REPO.parent / "shared" / "ecs"
EXPECTED_HITS = {
    "Process Started By WMI Provider Host (example)": {"wmi-spawns-cmd", "wmi-spawns-ps-uppercase-path"},
    "PowerShell With Encoded Command (example)": {"encoded-powershell", "renamed-powershell-encoded"},
}


def main() -> int:
    url = cluster.ensure_running()
    print(f"OpenSearch: {url}")
    client = OpenSearch(url, timeout=60)
    index = f"sigma-es-demo-{uuid.uuid4().hex[:8]}"
    client.indices.create(index=index, body=ecs_index_body(ECS_DIR, default_mapping_set().field_capabilities))
    events = [json.loads(line) for line in (EXAMPLES / "events" / "process_events.ndjson").read_text().splitlines()]
    helpers.bulk(client, ({"_index": index, "_id": e["sample_id"], "_source": e} for e in events), refresh=True)
    print(f"loaded {len(events)} sample events into {index}\n")
    failures = 0
    try:
        for target in ("es_lucene", "es_dsl"):
            options = {"engine": "opensearch"} if target == "es_lucene" else {}
            for result in convert_paths([EXAMPLES / "rules"], target, backend_options=options):
                if not result.ok:
                    # A refusal names what this engine cannot evaluate exactly; it is not a wrong answer.
                    print(f"[{target}] {result.title}\n    refused: {result.error}")
                    continue
                (query,) = result.queries
                body = ({"query": {"query_string": {"query": query}}} if target == "es_lucene"
                        else json.loads(query))
                response = client.search(index=index, body={**body, "size": 100, "_source": False})
                hits = {hit["_id"] for hit in response["hits"]["hits"]}
                expected = EXPECTED_HITS.get(result.title or "")
                verdict = "ok" if hits == expected else f"MISMATCH (expected {sorted(expected or [])})"
                failures += hits != expected
                print(f"[{target}] {result.title}\n    query: {query[:160]}{'…' if len(query) > 160 else ''}\n"
                      f"    hits:  {sorted(hits)}  {verdict}")
    finally:
        client.indices.delete(index=index)
    print(f"\n{'all example rules returned exactly their expected events' if not failures else f'{failures} problems'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
