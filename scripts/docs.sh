#!/usr/bin/env bash
# Build the documentation site (docs/_build/html) with warnings as errors: set up .venv/
# with the docs extra, run the tutorial through myst-nb (GPO_VAE_DOCS_EXECUTE=off skips
# it; GPO_VAE_TUTORIAL_EPOCHS=N shortens it) and render the API reference.
# Extra arguments go to sphinx-build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh
ensure_venv "[docs]"
# a fresh folder per build: the tutorial's run folders are not written over
export GPO_VAE_TUTORIAL_OUT="${GPO_VAE_TUTORIAL_OUT:-$PWD/docs/_build/tutorial_output}"
rm -rf "$GPO_VAE_TUTORIAL_OUT"
exec .venv/bin/python -m sphinx -W --keep-going -q -b html docs docs/_build/html "$@"
