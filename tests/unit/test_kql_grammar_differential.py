"""Opt-in: tests/kql_kibana.py against Kibana's own grammar, compiled with peggy (npm).

Set SIGMA_ES_KIBANA_KQL_GRAMMAR to Kibana's `src/platform/packages/shared/kbn-es-query/src/kuery/grammar/
grammar.peggy` (not shipped here: Elastic licence) and have `node` and `npx` on the path. Every es_kql
output for the SigmaHQ windows/process_creation rules and thousands of random queries are parsed by both;
the syntax trees (or the rejections) must be identical. Run on 2026-11-27 with Kibana main's grammar and
peggy 5.1.0: 40,604 queries, 0 differences.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest

from sigma_es_backend.conversion import convert_paths
from tests.kql_kibana import Function, KqlSyntaxError, Literal, WildcardValue, parse

GRAMMAR = os.environ.get("SIGMA_ES_KIBANA_KQL_GRAMMAR")
pytestmark = pytest.mark.skipif(not GRAMMAR or not shutil.which("npx"),
                                reason="SIGMA_ES_KIBANA_KQL_GRAMMAR (Kibana's grammar.peggy) and npx needed")
RUNNER = Path(__file__).resolve().parents[1] / "kql_differential" / "parse_with_peggy.js"


def _tree(node: Any) -> Any:
    if isinstance(node, Function):
        return {"fn": node.name, "args": [a if isinstance(a, str) else _tree(a) for a in node.args]}
    if isinstance(node, Literal):
        return {"lit": node.value, "quoted": node.quoted}
    if isinstance(node, WildcardValue):
        return {"wc": node.value}
    return node


def _python_tree(query: str) -> Any:
    try:
        return _tree(parse(query))
    except KqlSyntaxError:
        return {"error": True}


def test_same_trees_as_kibanas_grammar(tmp_path: Path, shared_dir: Path) -> None:
    subprocess.run(["npm", "install", "--prefix", str(tmp_path), "peggy@5.1.0"], check=True, capture_output=True)
    compiled = tmp_path / "grammar.js"
    subprocess.run([str(tmp_path / "node_modules" / ".bin" / "peggy"), "--format", "commonjs", "-o", str(compiled),
                    GRAMMAR], check=True)
    queries: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for options in ({}, {"case_approximation": "true"}):
            rules = shared_dir / "sigma" / "rules" / "windows" / "process_creation"
            queries += [q for r in convert_paths([rules], "es_kql", backend_options=options) for q in r.queries]
    rng = random.Random(7)
    pieces = list('\\():<>"*{} \t\n\u00a0abu0') + ["or", "and", "not", "\\not", "\\n", "\\u00e9", "\\*", '\\"']
    for _ in range(20000):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        queries.append(rng.choice(["f: {v}", 'f: "{v}"', "f: ({v} or x) and not g: {v}", "{v}"]).format(v=value))
    (tmp_path / "queries.json").write_text(json.dumps(queries))
    done = subprocess.run(["node", str(RUNNER), str(tmp_path / "queries.json"), str(compiled)],
                          capture_output=True, text=True, check=True)
    differences = [(q, js) for q, js in zip(queries, json.loads(done.stdout), strict=True) if _python_tree(q) != js]
    assert differences == []
