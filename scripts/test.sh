#!/usr/bin/env bash
# Set up, then run the whole test suite: unit, live (local OpenSearch started by the launcher, or the
# cluster named by SIGMA_ES_OPENSEARCH_URL) and the wheel/sigma-cli integration test. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
status=0
.venv/bin/python -m pytest "$@" || status=$?
# The unit suite again on the pySigma 1.5 line (sigma-cli 3.1 still pins pySigma < 2).
if [ ! -x .venv-pysigma15/bin/python ]; then "${PYTHON:-python3}" -m venv .venv-pysigma15; fi
.venv-pysigma15/bin/python -m pip install -q -e ".[test]" "pysigma==1.5.1"
.venv-pysigma15/bin/python -m pytest -q tests/unit -p no:cacheprovider || status=$?
.venv/bin/sigma-es cluster stop >/dev/null 2>&1 || true
exit $status
