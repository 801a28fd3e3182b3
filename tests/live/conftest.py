"""Live suite: one OpenSearch for the session.

`SIGMA_ES_OPENSEARCH_URL` (with SIGMA_ES_USERNAME/SIGMA_ES_PASSWORD, SIGMA_ES_CA_CERT,
SIGMA_ES_OPENSEARCH_INSECURE for docker-compose's demo certificates) selects an existing cluster;
otherwise the project's launcher starts the local OpenSearch from Maven Central artifacts. With
CI=true a cluster that cannot be had fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from opensearchpy import OpenSearch

from sigma_es_backend import cluster
from sigma_es_backend.backends.common import query_string_query
from sigma_es_backend.events.templates import ecs_index_body
from sigma_es_backend.pipelines import default_mapping_set


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"live cluster unavailable in CI: {reason}")
    pytest.skip(f"live cluster unavailable: {reason}")


@pytest.fixture(scope="session")
def opensearch_url() -> Iterator[str]:
    url = os.environ.get("SIGMA_ES_OPENSEARCH_URL")
    if url:
        yield url
        return
    was_running = cluster.status() is not None
    try:
        url = cluster.ensure_running()
    except cluster.ClusterError as error:
        _unavailable(str(error))
    yield url
    if not was_running:
        cluster.stop()


@pytest.fixture(scope="session")
def opensearch(opensearch_url: str) -> OpenSearch:
    auth = None
    if os.environ.get("SIGMA_ES_USERNAME"):
        auth = (os.environ["SIGMA_ES_USERNAME"], os.environ.get("SIGMA_ES_PASSWORD", ""))
    insecure = os.environ.get("SIGMA_ES_OPENSEARCH_INSECURE", "").lower() == "true"
    client = OpenSearch(opensearch_url, http_auth=auth, ca_certs=os.environ.get("SIGMA_ES_CA_CERT"),
                        verify_certs=not insecure, ssl_show_warn=False, timeout=60)
    try:
        client.info()
    except Exception as error:  # noqa: BLE001 - any failure means no usable cluster
        _unavailable(f"{opensearch_url}: {error}")
    return client


@pytest.fixture(scope="session")
def ecs_index_template_body(shared_dir) -> dict[str, Any]:
    return ecs_index_body(shared_dir / "ecs", default_mapping_set().field_capabilities)


@pytest.fixture(scope="session")
def live_index_name():
    """Factory of unique index names; SIGMA_ES_TEST_INDEX_PREFIX keeps runs sharing a cluster apart."""
    prefix = os.environ.get("SIGMA_ES_TEST_INDEX_PREFIX", "sigma-es-test")

    def make(purpose: str = "") -> str:
        return "-".join(p for p in (prefix, purpose, uuid.uuid4().hex[:12]) if p)

    return make


@pytest.fixture
def ecs_index(opensearch: OpenSearch, ecs_index_template_body: dict[str, Any], live_index_name) -> Iterator:
    """Factory: an index with production ECS field types holding the given {doc_id: document}."""
    created: list[str] = []

    def make(documents: dict[str, dict[str, Any]]) -> str:
        name = live_index_name()
        opensearch.indices.create(index=name, body=ecs_index_template_body)
        created.append(name)
        for doc_id, doc in documents.items():
            opensearch.index(index=name, id=doc_id, body=doc)
        opensearch.indices.refresh(index=name)
        return name

    yield make
    for name in created:
        opensearch.indices.delete(index=name, ignore_unavailable=True)


def search_ids(client: OpenSearch, index: str, query: dict[str, Any]) -> set[str]:
    response = client.search(index=index, body={**query, "size": 1000, "_source": False})
    return {hit["_id"] for hit in response["hits"]["hits"]}


def lucene_ids(client: OpenSearch, index: str, query_string: str) -> set[str]:
    return search_ids(client, index, {"query": query_string_query(query_string)})
