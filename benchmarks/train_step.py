"""Time one full GPO-VAE training step (forward, backward, Adam) at the authors' shapes.

    python benchmarks/train_step.py --shapes adamson rpe1 k562
    python benchmarks/train_step.py --shapes rpe1 --device cuda
    python benchmarks/train_step.py --shapes rpe1 --profile      # torch profiler table
    python benchmarks/train_step.py --shapes rpe1 --variant authors
    python benchmarks/train_step.py --shapes rpe1 --compile      # torch.compile the loss
    OMP_NUM_THREADS=1 python benchmarks/train_step.py --shapes adamson rpe1  # busy machine

``--variant`` anchored (the default model, with its pseudobulk-consistency term on
synthetic targets for every perturbed row) or authors. ``--gene-features none`` times the
anchored model without gene features (the model before them); ``pca``, the default, has
the own-gene effect spread to 200 random downstream genes per treatment gene and the
linear response on a random 10-column gene embedding, as the data would give.

Random data with the statistics of a Perturb-seq batch (sparse NB counts, one-hot
dosages, ~10% low-quality cells, counterfactual profiles); batch 512, 5 particles and
the authors' layer sizes. Each shape runs in a fresh process so its peak memory is its
own. Prints seconds per step, cells per second and peak memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

SHAPES = {
    # genes, treatments (perturbed + extra), latent, basal-encoder hidden
    "adamson": dict(n_genes=5000, n_perturbed=68, n_treatments=415, n_latent=100,
                    basal_hidden=400, fc_criteria=0.4, penalty=1.0),
    "rpe1": dict(n_genes=8000, n_perturbed=383, n_treatments=655, n_latent=200,
                 basal_hidden=200, fc_criteria=0.5, penalty=10.0),
    "k562": dict(n_genes=8563, n_perturbed=1092, n_treatments=1546, n_latent=200,
                 basal_hidden=200, fc_criteria=0.8, penalty=5.0),
}


def _batch(shape: dict, batch_size: int, device: str, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    n_genes, n_treatments = shape["n_genes"], shape["n_treatments"]
    library = torch.exp(torch.randn(batch_size, generator=g) * 0.3 + 8.5)
    profile = torch.distributions.Dirichlet(torch.full((n_genes,), 0.05)).sample()
    rate = library[:, None] * profile * torch.distributions.Gamma(2.0, 2.0).sample(
        (batch_size, n_genes))
    counts = torch.poisson(rate, generator=g)
    dosages = torch.zeros(batch_size, n_treatments)
    perturbed = torch.randint(0, shape["n_perturbed"], (batch_size,), generator=g)
    control = torch.rand(batch_size, generator=g) < 0.1
    dosages[~control, perturbed[~control]] = 1.0
    qc = (torch.rand(batch_size, generator=g) < 0.1).float()
    batch = {
        "counts": counts, "dosages": dosages, "qc": qc,
        "counterfactual": counts.roll(1, 0),
        "has_counterfactual": torch.rand(batch_size, generator=g) < 0.95,
        "delta_x": torch.rand(batch_size, n_treatments, generator=g).pow(4) * 2,
        "library_size": counts.sum(1),
    }
    return {k: v.to(device) for k, v in batch.items()}


def _child(name: str, device: str, steps: int, batch_size: int, particles: int,
           profile: bool, variant: str = "anchored", compile: bool = False,
           gene_features: str = "pca") -> dict:
    import numpy as np
    import torch

    from gpo_vae.config import config_from_dict
    from gpo_vae.data.pseudobulk import ConditionPseudobulk
    from gpo_vae.memory import peak_memory_gb
    from gpo_vae.models.builder import DataInfo, build_gpo_vae

    torch.manual_seed(0)
    shape = SHAPES[name]
    config = config_from_dict({
        "model": {"n_latent": shape["n_latent"], "variant": variant,
                  **({"gene_features": gene_features} if variant == "anchored" else {})},
        "guide": {"basal_encoder_n_hidden": shape["basal_hidden"]},
        "loss": {"fc_criteria": shape["fc_criteria"], "penalty_coeff": shape["penalty"]},
        "training": {"n_particles": particles},
    })
    n_t = shape["n_treatments"]
    train_cells = np.zeros(n_t, dtype=int)
    train_cells[: shape["n_perturbed"]] = 100
    info = DataInfo(gene_names=[f"g{i}" for i in range(shape["n_genes"])],
                    treatment_names=[f"g{i}" for i in range(n_t)],   # measured genes
                    treatment_kinds=["perturbed"] * n_t, treatment_measured=[True] * n_t,
                    train_cells_per_treatment=train_cells.tolist(),
                    train_cells_per_qc=[90000, 10000], n_train_cells=100000)
    n_p = shape["n_perturbed"]
    pseudobulk = ConditionPseudobulk(
        dosages=np.eye(n_t, dtype=np.float32)[:n_p],
        means=(0.3 * torch.randn(n_p, shape["n_genes"])).numpy(),
        n_cells=train_cells[:n_p], control_mean=np.zeros(shape["n_genes"], np.float32),
        n_control=1000, within_var=np.full(shape["n_genes"], 0.3, np.float32))
    rng = np.random.default_rng(0)
    features = rng.normal(size=(n_t, 20)).astype(np.float32)
    # the default's direct shifts: 200 downstream genes per treatment gene and a linear
    # response on a 10-column gene embedding
    downstream = (rng.integers(0, shape["n_genes"], size=(n_t, 200)),
                  rng.normal(size=(n_t, 200)).astype(np.float32))
    embedding = rng.normal(size=(shape["n_genes"], 10))
    module = build_gpo_vae(config, info, pseudobulk=pseudobulk, gene_features=features,
                           downstream=downstream, gene_embedding=(embedding, embedding[:n_t]))
    module.to(device)
    params = list(module.parameters())
    optimizer = torch.optim.Adam(params, lr=3e-4)
    batches = [_batch(shape, batch_size, device, seed) for seed in range(2)]

    loss_fn = torch.compile(module.loss) if compile else module.loss

    def step(i: int) -> float:
        optimizer.zero_grad(set_to_none=True)
        value = loss_fn(batches[i % 2], particles).loss
        value.backward()
        torch.nn.utils.clip_grad_norm_(params, 100.0)
        optimizer.step()
        return float(value.detach())

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    compile_start = time.perf_counter()
    for i in range(2):  # warm-up: allocator, Adam state (and compiling)
        step(i)
    sync()
    warmup = time.perf_counter() - compile_start
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            step(0)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25),
              file=sys.stderr)
    times, cpu_times = [], []
    for i in range(steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        step(i)
        sync()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    seconds = float(np.median(times))
    return {
        "shape": name, "variant": variant, "device": device, "genes": shape["n_genes"],
        "treatments": n_t,
        "latent": shape["n_latent"], "batch": batch_size, "particles": particles,
        "seconds_per_step": round(seconds, 3),
        "cells_per_second": round(batch_size / seconds, 1),
        # process CPU time: comparable between runs on a busy machine (with one thread)
        "cpu_seconds_per_step": round(float(np.median(cpu_times)), 3),
        "peak_memory_gb": peak_memory_gb(),
        "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if device.startswith("cuda") else None,
        "torch_threads": torch.get_num_threads(),
        "compiled": compile, "warmup_seconds": round(warmup, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=["rpe1"])
    parser.add_argument("--device", default="cpu", help="cpu or cuda [default: cpu]")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (median reported)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--particles", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a torch profiler table")
    parser.add_argument("--variant", choices=["anchored", "authors"], default="anchored")
    parser.add_argument("--gene-features", choices=["pca", "none"], default="pca")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the loss (training.compile); warm-up includes it")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = _child(args.child, args.device, args.steps, args.batch_size, args.particles,
                        args.profile, args.variant, args.compile, args.gene_features)
        print(json.dumps(result))
        return
    print(f"variant {args.variant} (gene features {args.gene_features}), batch "
          f"{args.batch_size}, {args.particles} particles"
          f"{', compiled' if args.compile else ''}, device {args.device}")
    print(f"{'shape':<8} {'genes':>6} {'T':>5} {'L':>4} {'s/step':>8} {'cells/s':>8} "
          f"{'cpu s/step':>10} {'peak GB':>8}")
    for name in args.shapes:
        cmd = [sys.executable, __file__, "--child", name, "--device", args.device,
               "--steps", str(args.steps), "--batch-size", str(args.batch_size),
               "--particles", str(args.particles), "--variant", args.variant,
               "--gene-features", args.gene_features] + \
            (["--profile"] if args.profile else []) + (["--compile"] if args.compile else [])
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        peak = r["peak_gpu_memory_gb"] if r["peak_gpu_memory_gb"] is not None \
            else r["peak_memory_gb"]
        print(f"{name:<8} {r['genes']:>6} {r['treatments']:>5} {r['latent']:>4} "
              f"{r['seconds_per_step']:>8.2f} {r['cells_per_second']:>8.0f} "
              f"{r['cpu_seconds_per_step']:>10.2f} {peak:>8.2f}",
              flush=True)


if __name__ == "__main__":
    main()
