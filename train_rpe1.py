"""Train GPO-VAE on the Replogle 2022 RPE1 screen:

    python train_rpe1.py --config demo/gpo_vae_rpe1.yaml

A thin wrapper of `gpo-vae train` kept for the GPO-VAE authors' entry point; the same
options apply (--set, --out, --resume, --quiet).
"""

import sys

from gpo_vae.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
