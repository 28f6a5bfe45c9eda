"""Train GPO-VAE on the Adamson 2016 screen:

    python train_adamson.py --config demo/gpo_vae_adamson.yaml

A thin wrapper of `gpo-vae train` kept for the GPO-VAE authors' entry point; the same
options apply (--set, --out, --resume, --quiet).
"""

import sys

from gpo_vae.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
