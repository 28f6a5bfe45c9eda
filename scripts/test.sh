#!/usr/bin/env bash
# Quick start, command 2: set up .venv/ with the dev extra and run the test suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -m slow`). Exits with pytest's
# status; "no tests collected" (5) is a failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh
ensure_venv "[dev]"
exec .venv/bin/python -m pytest "$@"
