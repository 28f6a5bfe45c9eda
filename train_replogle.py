"""Train GPO-VAE on the Replogle 2022 K562 essential screen:

    python train_replogle.py --config demo/gpo_vae_replogle.yaml

A thin wrapper of `gpo-vae train` kept for the GPO-VAE authors' entry point; the same
options apply (--set, --out, --resume, --quiet).
"""

import sys

from gpo_vae.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
