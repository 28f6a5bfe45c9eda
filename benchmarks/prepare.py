"""Time `prepare` cold and from cache, with peak memory, on real or simulated screens.

    python benchmarks/prepare.py --dataset papalexi
    python benchmarks/prepare.py --dataset large          # simulator's K562-scale preset
    python benchmarks/prepare.py --dataset xlarge         # 1M cells, prepared out of core
    python benchmarks/prepare.py --dataset default --pairing ot wd hungarian

Each run is a fresh process (peak resident memory is its own) with a fresh cache folder
for the cold run; the warm run reuses that cache.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_PAPALEXI = Path("papalexi2021") / "papalexi2021_thp1_eccite_299genes.h5ad"
# `gpo-vae download papalexi` writes datasets/...; developers keep a copy in ../shared/data
PAPALEXI = next((p for p in (ROOT / "datasets" / _PAPALEXI,
                             ROOT.parent / "shared" / "data" / _PAPALEXI) if p.exists()),
                ROOT / "datasets" / _PAPALEXI)


def _data_settings(dataset: str, workdir: Path) -> dict:
    if dataset == "papalexi":
        if not PAPALEXI.exists():
            sys.exit(f"error: {PAPALEXI} not found; fetch it with `gpo-vae download papalexi`")
        return {"preset": "generic", "path": str(PAPALEXI), "perturbation_key": "target",
                "control_label": "non-targeting"}
    path = workdir / f"simulated_{dataset}.h5ad"
    if not path.exists():
        from gpo_vae.simulation import simulate_to_h5ad

        start = time.perf_counter()
        simulate_to_h5ad(path, dataset, seed=0)
        print(f"simulated {dataset} in {time.perf_counter() - start:.0f} s -> {path}",
              file=sys.stderr)
    return {"preset": "simulated", "path": str(path)}


def _child(settings: dict, cache_dir: str) -> dict:
    from gpo_vae.config import config_from_dict
    from gpo_vae.data.prepare import prepare

    config = config_from_dict({"output_dir": cache_dir, "data": {**settings,
                                                                  "cache_dir": cache_dir}})
    start = time.perf_counter()
    result = prepare(config)
    return {
        "seconds": round(time.perf_counter() - start, 1),
        "from_cache": result.from_cache,
        "cells": result.manifest["n_cells"],
        "genes": result.manifest["n_genes"],
        "treatments": result.manifest["n_perturbed_genes"] + result.manifest["n_extra_genes"],
        "peak_memory_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="papalexi",
                        choices=["papalexi", "small", "default", "large", "xlarge"])
    parser.add_argument("--pairing", nargs="+", default=["ot"], choices=["ot", "wd", "hungarian"])
    parser.add_argument("--workdir", default=None, help="where simulated inputs are kept")
    parser.add_argument("--backed", action="store_true",
                        help="the run from cache opens the prepared file backed (data.backed)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        payload = json.loads(args.child)
        print(json.dumps(_child(payload["settings"], payload["cache_dir"])))
        return
    workdir = Path(args.workdir or tempfile.gettempdir()) / "gpo_vae_bench"
    workdir.mkdir(parents=True, exist_ok=True)
    settings = {**_data_settings(args.dataset, workdir), "backed": args.backed}
    for pairing in args.pairing:
        with tempfile.TemporaryDirectory(dir=workdir) as cache_dir:
            for run in ("cold", "cache"):
                payload = json.dumps({"settings": {**settings, "pairing": pairing},
                                      "cache_dir": cache_dir})
                out = subprocess.run([sys.executable, __file__, "--child", payload],
                                     check=True, stdout=subprocess.PIPE, text=True).stdout
                result = json.loads(out.strip().splitlines()[-1])
                print(json.dumps({"dataset": args.dataset, "pairing": pairing, "run": run,
                                  **result}), flush=True)


if __name__ == "__main__":
    main()
