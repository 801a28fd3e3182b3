#!/usr/bin/env bash
# Set up, then run the whole test suite: unit, live (local OpenSearch started by the launcher, or the
# cluster named by SIGMA_ES_OPENSEARCH_URL) and the wheel/sigma-cli integration test. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
status=0
.venv/bin/python -m pytest "$@" || status=$?
.venv/bin/sigma-es cluster stop >/dev/null 2>&1 || true
exit $status
