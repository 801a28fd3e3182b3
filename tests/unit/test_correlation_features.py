"""The README's correlation table (features.py CORRELATION_FEATURES) is what the backends do: for every
row and backend, a representative correlation rule converts where the row says ✔ and fails with an
error naming the correlation rule where it says error. The exact results are pinned elsewhere
(test_correlations.py, test_correlation_kibana.py, tests/live/test_correlations_live.py)."""

from __future__ import annotations

import pytest
from sigma.exceptions import SigmaError

from sigma_es_backend.backends.features import BACKEND_IDS, CORRELATION_FEATURES
from tests.conftest import convert
from tests.unit.test_correlation_kibana import rule

ALIASES = "\n    aliases:\n        parent:\n            whoami: ParentImage\n            net: Image"


def with_aliases(kind: str) -> str:
    return rule(kind, None, group_by="[parent]") + ALIASES[1:] + "\n"


# feature id → (rule, output format), or a function of the backend for rows whose ✔ is per backend
REPRESENTATIVES = {
    "corr_event_count": lambda b: (rule("event_count", "{gte: 3}"), "default"),
    "corr_value_count": lambda b: (rule("value_count", "{gte: 3, field: CommandLine}"), "default"),
    "corr_temporal": lambda b: (rule("temporal", None), "default"),
    "corr_temporal_ordered": lambda b: (rule("temporal_ordered", None), "default"),
    # es_eql joins aliases in sequences only; the aggregating backends are asked for a temporal rule
    "corr_aliases": lambda b: (with_aliases("temporal_ordered" if b == "es_eql" else "temporal"), "default"),
    "corr_kibana": lambda b: (rule("event_count", "{gte: 3}"), "kibana_rule"),
    "corr_monitor": lambda b: (rule("event_count", "{gte: 3}"), "opensearch_monitor"),
    "corr_value_sum": lambda b: (rule("value_avg", "{gte: 3, field: ProcessId}"), "default"),
    "corr_value_percentile": lambda b: (rule("value_median", "{gte: 3, field: ProcessId}"), "default"),
    # a boolean correlation condition: refused naming the rule (pySigma 2 parses it; 1.5 does not)
    "corr_extended": lambda b: (rule("temporal", None) + "    condition: whoami and net\n", "default"),
}


def test_every_row_has_a_representative() -> None:
    assert set(REPRESENTATIVES) == {f.id for f in CORRELATION_FEATURES}


@pytest.mark.parametrize("backend", BACKEND_IDS)
@pytest.mark.parametrize("feature", CORRELATION_FEATURES, ids=lambda f: f.id)
def test_row_matches_the_backend(feature, backend: str) -> None:
    rule_yaml, fmt = REPRESENTATIVES[feature.id](backend)
    if feature.support(backend).supported:
        assert convert(rule_yaml, backend, fmt)[-1]
    else:
        with pytest.raises(SigmaError, match=f"{backend}: correlation rule 'recon_burst': "):
            convert(rule_yaml, backend, fmt)
