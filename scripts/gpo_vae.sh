#!/usr/bin/env bash
# Run `gpo-vae ARGS` from the repository root with the repository's .venv/ (created and
# installed on first use). The sweep_*.sh wrappers call this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/gpo-vae ]; then
    source scripts/_venv.sh
    ensure_venv ""
fi
exec .venv/bin/gpo-vae "$@"
