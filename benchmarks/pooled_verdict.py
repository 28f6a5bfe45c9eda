"""One paired verdict over the perturbations of several ablation data sets.

    python benchmarks/pooled_verdict.py --data demo_fewcells demo_fewcells_seed1 \
        demo_fewcells_seed2 --setting anchored --against anchored-knockdown_shrinkage

A regime measured on several independent screens (the few-cells preset simulated with
three network seeds) decides more than any one of them: each screen's per-perturbation
scores (seed-averaged, from ``benchmarks/ablation.py`` results) are pooled, and the model
is compared, paired over every perturbation of every screen, with the baselines and with
another setting. Decide the screens before looking: pooling the ones that agree is not a
result.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd
from ablation import BASELINE_LABELS, DATA, _per_perturbation, kind_verdicts


def pooled(datasets: list[str], setting: str, against: str | None,
           which: str = "last") -> pd.DataFrame:
    """Per-perturbation scores of every data set, one row per (data set, perturbation):
    the model, the baselines, the ``against`` setting's model, and the kind."""
    frames = []
    for data in datasets:
        wide = _per_perturbation(data, setting, which)
        if wide is None:
            raise SystemExit(f"no results of {setting!r} on {data!r}: run benchmarks/"
                             f"ablation.py --data {data} --settings {setting}")
        if against:
            other = _per_perturbation(data, against, which)
            if other is None:
                raise SystemExit(f"no results of {against!r} on {data!r}")
            wide[against] = other["model"].reindex(wide.index)
        frames.append(wide.set_index(data + ":" + wide.index.astype(str)))
    return pd.concat(frames)


def verdict_lines(scores: pd.DataFrame, against: str | None) -> list[str]:
    """The paired verdicts of the model, per kind of perturbation."""
    labels = {**BASELINE_LABELS, **({against: against} if against else {})}
    return [f"- {line}" for line in kind_verdicts(scores, labels)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", choices=list(DATA), required=True)
    parser.add_argument("--setting", default="anchored")
    parser.add_argument("--against", default=None, help="another setting to compare with")
    parser.add_argument("--which", choices=("last", "best"), default="last")
    args = parser.parse_args(argv)
    scores = pooled(args.data, args.setting, args.against, args.which)
    means = scores.drop(columns="kind").mean().round(3)
    print(f"{args.setting} ({args.which}.ckpt) over {', '.join(args.data)}: "
          + ", ".join(f"{k} {v}" for k, v in means.items()))
    print("\n".join(verdict_lines(scores, args.against)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
