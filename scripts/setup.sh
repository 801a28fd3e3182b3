#!/usr/bin/env bash
# Creates .venv (Python 3.11), installs the project with its test extras, and fetches + assembles the local
# OpenSearch from Maven Central (cached under ~/.cache/sigma-es). Safe to rerun: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"
.venv/bin/sigma-es cluster fetch >&2
