"""Time one full training epoch of GPO-VAE on a prepared simulated screen: cells per
second, peak memory (host and GPU) and the share of the epoch spent waiting for data.

    python benchmarks/train_epoch.py --preset large                       # 2-core CPU
    python benchmarks/train_epoch.py --preset large --device cuda --precision bf16-mixed
    python benchmarks/train_epoch.py --preset xlarge --backed             # counts on disk
    python benchmarks/train_epoch.py --preset large --max-batches 50      # a quick look

The screen is simulated (``simulate_to_h5ad``) and prepared once into ``--workdir``
(the cache is reused by later runs). The epoch runs the project's data module (the
loader users train with: batches densified one at a time, pinned memory on a GPU) and
the model's own loss with Adam, one step per batch, like the Lightning training plan;
"data wait" is the time spent in the loader's ``next()`` and the host-to-device copy.
Prints one line, ready for the README, then the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def _prepared_config(args):
    from gpo_vae.config import config_from_dict
    from gpo_vae.simulation import simulate_to_h5ad

    workdir = Path(args.workdir or tempfile.gettempdir()) / "gpo_vae_bench"
    workdir.mkdir(parents=True, exist_ok=True)
    path = Path(args.data) if args.data else workdir / f"simulated_{args.preset}.h5ad"
    if not path.exists():
        start = time.perf_counter()
        simulate_to_h5ad(path, args.preset, seed=0)
        print(f"simulated {args.preset} in {time.perf_counter() - start:.0f} s -> {path}",
              file=sys.stderr)
    return config_from_dict({
        "output_dir": str(workdir),
        "data": {"preset": "simulated", "path": str(path), "batch_size": args.batch_size,
                 "num_workers": args.num_workers, "backed": args.backed,
                 "cache_dir": str(workdir / "cache")},
        "training": {"n_particles": args.particles},
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="large",
                        choices=["small", "default", "large", "xlarge"])
    parser.add_argument("--data", help="a simulated h5ad to use instead of the preset's")
    parser.add_argument("--workdir", help="where the screen and its prepared cache are kept")
    parser.add_argument("--device", default="cpu", help="cpu or cuda [default: cpu]")
    parser.add_argument("--precision", default="32", choices=["32", "bf16-mixed", "16-mixed"])
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--particles", type=int, default=5)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--backed", action="store_true",
                        help="read batches from the prepared file on disk (data.backed)")
    parser.add_argument("--max-batches", type=int, default=None,
                        help="stop after this many batches (cells/s is still per cell)")
    args = parser.parse_args()

    import torch

    from gpo_vae.data.datamodule import PerturbationDataModule
    from gpo_vae.memory import peak_memory_gb
    from gpo_vae.models.builder import build_for_prepared

    config = _prepared_config(args)
    dm = PerturbationDataModule(config)
    dm.prepare_data()
    dm.setup("fit")
    torch.manual_seed(0)
    module = build_for_prepared(config, dm.adata).to(args.device)
    params = list(module.parameters())
    optimizer = torch.optim.Adam(params, lr=3e-4)
    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(args.precision)
    scaler = torch.amp.GradScaler("cuda") if args.precision == "16-mixed" else None

    loader = dm.train_dataloader()
    loader.sampler.set_epoch(0)
    total = min(len(loader), args.max_batches or len(loader))
    every = max(1, total // 20)  # a plain line every 5%: readable in a log file
    cells = batches = 0
    wait = 0.0
    start = time.perf_counter()
    mark = start
    for batch in loader:
        batch = {k: v.to(args.device, non_blocking=True) for k, v in batch.items()}
        sync()
        wait += time.perf_counter() - mark
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(args.device.split(":")[0], dtype=dtype, enabled=dtype is not None):
            loss = module.loss(batch, args.particles).loss
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 100.0)
        (scaler.step(optimizer), scaler.update()) if scaler is not None else optimizer.step()
        sync()
        cells += int(batch["counts"].shape[0])
        batches += 1
        mark = time.perf_counter()
        if batches % every == 0:
            elapsed = mark - start
            print(f"batch {batches}/{total}: {cells / elapsed:.0f} cells/s, "
                  f"{elapsed / batches * (total - batches) / 60:.0f} min left, "
                  f"peak {peak_memory_gb()} GB", file=sys.stderr, flush=True)
        if args.max_batches and batches >= args.max_batches:
            break
    seconds = time.perf_counter() - start
    result = {
        "preset": args.preset, "device": args.device, "precision": args.precision,
        "backed": args.backed, "num_workers": args.num_workers, "cells": cells,
        "batches": batches, "full_epoch": batches == len(loader),
        "genes": dm.adata.n_vars, "treatments": len(dm.adata.uns["treatments"]),
        "epoch_seconds": round(seconds, 1), "cells_per_second": round(cells / seconds, 1),
        "data_wait_share": round(wait / seconds, 3), "final_loss": round(float(loss.detach()), 2),
        "peak_memory_gb": peak_memory_gb(),
        "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if cuda else None,
        "torch_threads": torch.get_num_threads(),
    }
    gpu = f", GPU peak {result['peak_gpu_memory_gb']} GB" if cuda else ""
    print(f"| {args.preset} | {args.device} {args.precision}{' backed' if args.backed else ''} "
          f"| {cells:,} cells in {seconds:.0f} s | {result['cells_per_second']:,.0f} cells/s "
          f"| data wait {100 * result['data_wait_share']:.0f}% | peak {result['peak_memory_gb']}"
          f" GB{gpu} |")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
