"""Time the simulator presets and report peak memory.

    python benchmarks/simulate.py --preset large [--write /tmp/large.h5ad]

Each preset runs in a fresh process so peak resident memory is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from gpo_vae.constants import SIMULATION_PRESETS


def _run_one(preset: str, seed: int, write: str | None) -> dict:
    from gpo_vae.simulation import simulate_perturbseq

    start = time.perf_counter()
    adata = simulate_perturbseq(preset, seed=seed)
    seconds = time.perf_counter() - start
    result = {
        "preset": preset,
        "cells": adata.n_obs,
        "genes": adata.n_vars,
        "perturbations": len(adata.uns["perturbations"]),
        "nonzero_fraction": round(adata.X.nnz / (adata.n_obs * adata.n_vars), 3),
        "simulate_seconds": round(seconds, 1),
    }
    if write:
        from gpo_vae.io import write_h5ad_atomic

        start = time.perf_counter()
        write_h5ad_atomic(adata, write)
        result["write_seconds"] = round(time.perf_counter() - start, 1)
    # ru_maxrss is in KiB on Linux
    result["peak_memory_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", nargs="+", default=["small", "default"],
                        choices=list(SIMULATION_PRESETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", help="also time writing the h5ad here (one preset only)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_run_one(args.preset[0], args.seed, args.write)))
        return
    for preset in args.preset:
        cmd = [sys.executable, __file__, "--child", "--preset", preset, "--seed", str(args.seed)]
        if args.write:
            cmd += ["--write", args.write]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        print(out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
