"""The feature cases for es_eql (evaluated with the `eql` package) and es_esql (ES|QL subset evaluator),
and the feature registry: every README row is proven by cases, and the README table is the registry's.

es_lucene and es_dsl run the same cases live on OpenSearch (tests/live/test_features_live.py).
"""

from __future__ import annotations

import json

import pytest

from sigma_es_backend.backends.features import BACKEND_IDS, FEATURES, FEATURES_BY_ID, render_table
from tests.conftest import REPO
from tests.eql_eval import eql_hits
from tests.esql_eval import esql_hits
from tests.feature_cases import CASES, FeatureCase, convert_case

EVALUATORS = {"es_eql": eql_hits, "es_esql": esql_hits}


@pytest.mark.parametrize(("case", "target"), [(case, target) for case in CASES for target in sorted(EVALUATORS)
                                               if target in case.backends],
                         ids=lambda v: v.id if isinstance(v, FeatureCase) else v)
def test_feature_case_evaluated(case: FeatureCase, target: str) -> None:
    if target in case.raises:
        with pytest.raises(Exception, match=case.raises[target]):
            convert_case(case, target)
        return
    query = convert_case(case, target)
    assert EVALUATORS[target](query, case.documents()) == set(case.expected), query
    if target == "es_eql":  # the _eql/search body carries the same query
        assert json.loads(convert_case(case, target, "eqlapi"))["query"] == query


def test_case_ids_are_unique_and_features_registered() -> None:
    assert len({case.id for case in CASES}) == len(CASES)
    assert {case.feature for case in CASES} <= set(FEATURES_BY_ID)


@pytest.mark.parametrize("backend", BACKEND_IDS)
@pytest.mark.parametrize("feature", FEATURES, ids=lambda f: f.id)
def test_registry_row_is_what_the_cases_prove(feature, backend: str) -> None:
    cases = [case for case in CASES if case.feature == feature.id]
    assert cases, f"feature {feature.id} has no case"
    converting = [case for case in cases if backend in case.backends and backend not in case.raises]
    if feature.support(backend).supported:
        assert converting, f"{feature.id} is marked supported for {backend} but every case expects an error"
        assert any(case.expected for case in converting), f"{feature.id}/{backend}: no case expects a hit"
    else:
        assert not converting, f"{feature.id} is marked error for {backend} but cases convert"


def test_readme_feature_table_is_the_registry() -> None:
    readme = (REPO / "README.md").read_text()
    assert render_table() in readme, "README table out of date: python -m sigma_es_backend.backends.features"
