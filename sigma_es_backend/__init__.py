"""Sigma → Elasticsearch / OpenSearch: exact-semantics backends, ECS pipeline, detections, harness."""

__version__ = "0.1.0"
