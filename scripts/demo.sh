#!/usr/bin/env bash
# Main job end to end on the embedded local OpenSearch: set up, start the node, run the example rules.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python scripts/demo.py
