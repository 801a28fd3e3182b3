"""Shared fixtures: paths to ../shared, the seed rule, and converters for every backend."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sigma.collection import SigmaCollection

from sigma_es_backend.backends import backends
from sigma_es_backend.pipelines import ecs_pipeline

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}: tests read the SigmaHQ corpus and ECS templates there")
    return SHARED


@pytest.fixture(scope="session")
def seed_rule_yaml(shared_dir: Path) -> str:
    return (shared_dir / "docs" / "seed-rule.yml").read_text()


def convert(rule_yaml: str, target: str, output_format: str = "default", pipeline=None) -> list:
    """Convert one inline rule with the given target (ECS pipeline unless another is given)."""
    backend = backends[target](processing_pipeline=pipeline if pipeline is not None else ecs_pipeline())
    return backend.convert(SigmaCollection.from_yaml(rule_yaml), output_format)


def inline_rule(selection: dict | list, title: str = "Test") -> str:
    """The YAML of a rule over the test log source (category test_category, product test_product: nothing
    maps its fields) with one selection `sel` holding `selection`; values are written by the YAML dumper,
    so any string (quotes, backslashes, control characters) reaches the rule unchanged."""
    return yaml.safe_dump({
        "title": title, "status": "test",
        "logsource": {"category": "test_category", "product": "test_product"},
        "detection": {"sel": selection, "condition": "sel"},
    }, sort_keys=False, allow_unicode=True)
