#!/usr/bin/env bash
# Quick start, command 2: set up .venv/ with the dev extra and run the test suite.
# Extra arguments go to pytest. Exits with pytest's status; "no tests collected" (5) is a
# failure.
#   bash scripts/test.sh                        everything but the `slow` tests
#   bash scripts/test.sh -m "not integration"   unit tier (< 2 min: no training, sweeps or whole preparations)
#   bash scripts/test.sh -m integration         the tests that train, sweep, run `train` or prepare to disk
#   bash scripts/test.sh -m slow                the slow tests only
# `slow` tests stay out of every run whose -m expression does not name `slow`: the
# pytest_collection_modifyitems hook in tests/conftest.py deselects them (an addopts
# -m 'not slow' would be replaced by the -m given here). Each test fails after 300 s
# (pytest-timeout; `timeout` in pyproject.toml, --timeout=N to change it).
# The tests run in parallel, one pytest-xdist worker per core (a test file stays on one
# worker), each worker's torch, numba and BLAS pools sized to one core so the workers do
# not fight over them; GPO_VAE_TEST_WORKERS=N sets the number, 0 runs them in this process.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh
ensure_venv "[dev]"
workers="${GPO_VAE_TEST_WORKERS:-auto}"
if [ "$workers" != "0" ]; then
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1
    set -- -n "$workers" --dist loadfile "$@"
fi
exec .venv/bin/python -m pytest "$@"
