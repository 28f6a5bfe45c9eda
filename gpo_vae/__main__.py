"""``python -m gpo_vae`` runs the command line."""

import sys

from gpo_vae.cli import main

sys.exit(main())
