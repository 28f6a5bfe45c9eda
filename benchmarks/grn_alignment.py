"""GRN-alignment term: batch propagation against explicit matrix powers, side by side.

    python benchmarks/grn_alignment.py                       # T = 1000 and 2000, B = 512, K = 5
    python benchmarks/grn_alignment.py --treatments 655 1546 --repeats 5

Times forward + backward of D S (S = A + A^2/T + ... + A^(K+1)/T^K) with A requiring a
gradient, as in training, in one process; checks that both give the same values.
"""

from __future__ import annotations

import argparse
import time

import torch

from gpo_vae.models.alignment import effects_by_matrix_powers, propagate_effects


def _time(fn, dosages, adjacency, hop, repeats: int) -> float:
    times = []
    for i in range(repeats + 1):
        adjacency.grad = None
        start = time.perf_counter()
        fn(dosages, adjacency, hop).abs().mean().backward()
        if i:  # the first call warms up the allocator
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--treatments", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--hop", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"B = {args.batch_size}, K = {args.hop}, {torch.get_num_threads()} threads")
    print(f"{'T':>6} {'propagation s':>14} {'matrix powers s':>16} {'speed-up':>9} {'max diff':>9}")
    for n in args.treatments:
        adjacency = (torch.randn(n, n) * 0.5).requires_grad_()
        dosages = torch.zeros(args.batch_size, n)
        dosages[torch.arange(args.batch_size), torch.randint(0, n, (args.batch_size,))] = 1
        with torch.no_grad():
            diff = (propagate_effects(dosages, adjacency, args.hop)
                    - effects_by_matrix_powers(dosages, adjacency, args.hop)).abs().max().item()
        fast = _time(propagate_effects, dosages, adjacency, args.hop, args.repeats)
        slow = _time(effects_by_matrix_powers, dosages, adjacency, args.hop, args.repeats)
        print(f"{n:>6} {fast:>14.3f} {slow:>16.3f} {slow / fast:>8.1f}x {diff:>9.1e}", flush=True)


if __name__ == "__main__":
    main()
