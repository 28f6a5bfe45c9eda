#!/usr/bin/env bash
# Quick start, command 1: set up .venv/ and run the main job on the embedded default data
# set (a simulated Perturb-seq screen with a known GRN). Everything goes to results/demo/.
# It never deletes work: a rerun reuses the simulated screen, resumes an interrupted
# training run and skips a finished one (delete results/demo/gpo_vae_demo to retrain).
# Extra arguments go to `gpo-vae train` (e.g. --set training.max_epochs=10).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh
ensure_venv ""

out=results/demo
mkdir -p "$out"
screen="$out/data/simulated_default.h5ad"
if [ -f "$screen" ]; then
    echo "[gpo-vae] reusing the simulated data set $screen"
else
    echo "[gpo-vae] simulating the default data set"
    .venv/bin/gpo-vae simulate --preset default --seed 0 --out "$screen" --report "$out"
fi
run="$out/gpo_vae_demo"
if [ -f "$run/training_summary.json" ]; then
    echo "[gpo-vae] $run is already trained; delete it to train again"
elif [ -f "$run/checkpoints/last.ckpt" ]; then
    echo "[gpo-vae] resuming the interrupted demo run $run"
    .venv/bin/gpo-vae train --config demo/gpo_vae_demo.yaml --resume "$@"
else
    echo "[gpo-vae] training GPO-VAE (demo/gpo_vae_demo.yaml; prepares the data first, a few minutes on 2 CPU cores)"
    .venv/bin/gpo-vae train --config demo/gpo_vae_demo.yaml "$@"
fi
echo "[gpo-vae] exporting the learned GRN"
.venv/bin/gpo-vae export-grn "$run" --out "$out/grn"
echo "[gpo-vae] evaluating on held-out test cells beside baselines and the split-half ceiling"
.venv/bin/gpo-vae evaluate "$run" --quiet
cp "$run/metrics.json" "$out/.metrics.json.tmp" && mv "$out/.metrics.json.tmp" "$out/metrics.json"
echo "[gpo-vae] done: see $out/metrics.json, $run/plots/ (training curves, ATE scatter, baselines,"
echo "          GRN precision-recall), $out/grn/ and $out/simulation_summary.md"
