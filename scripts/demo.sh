#!/usr/bin/env bash
# Quick start, command 1: set up .venv/ and run the main job on the embedded default data
# set (a simulated Perturb-seq screen with a known GRN). Everything goes to results/demo/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh
ensure_venv ""

out=results/demo
mkdir -p "$out"
echo "[gpo-vae] simulating the default data set"
.venv/bin/gpo-vae simulate --preset default --seed 0 \
    --out "$out/data/simulated_default.h5ad" --report "$out"
echo "[gpo-vae] preparing it for training (QC, splits, control pairing; cached)"
.venv/bin/gpo-vae prepare --config demo/data_simulated.yaml
echo "[gpo-vae] done: see $out/simulation_summary.md, $out/plots/simulation_overview.png and $out/cache/"
