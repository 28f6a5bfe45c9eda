#!/usr/bin/env bash
exec bash "$(dirname "$0")/scripts/gpo_vae.sh" sweep sweeps/replogle.yaml "$@"
