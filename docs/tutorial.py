# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # GPO-VAE from Python: a tutorial on the simulated screen
#
# This file is a notebook in "percent" format: open it in Jupyter (with jupytext) or in
# VS Code / PyCharm as cells, or run it as a script (`python docs/tutorial.py`). It uses
# the `small` simulated screen, whose true gene regulatory network is known, so every
# number below can be checked. `tests/test_tutorial.py` runs it (with fewer epochs).

# %%
import os
from pathlib import Path

try:
    from IPython.display import display  # inline figures in a notebook
except ImportError:                       # a plain script without IPython
    display = print

import gpo_vae as gv

# One settings object (scvi-tools' style): no progress bars in these executed docs; messages
# go through Python's logging (gv.settings.verbosity = "info" shows the step-by-step ones).
gv.settings.progress_bar = False
EPOCHS = int(os.environ.get("GPO_VAE_TUTORIAL_EPOCHS", "40"))
OUT = Path(os.environ.get("GPO_VAE_TUTORIAL_OUT", "tutorial_output"))
# The package never writes over a trained run: to run this again, delete OUT first (or
# set GPO_VAE_TUTORIAL_OUT to a new folder).
# Plotting methods return matplotlib Figures (the package never switches your backend):
# `display` shows them inline in a notebook; `fig.savefig(...)` writes them.


# %% [markdown]
# ## 1. Data: simulate a screen and prepare it in memory
# `gv.prepare` runs QC, the perturbation filters, the train / val / test split, control
# pairing and the counterfactual targets, and returns an AnnData; it writes nothing.
# With your own screen, pass `perturbation_key=` and `control_label=`.

# %%
adata = gv.simulate("small", seed=0)
prepared = gv.prepare(adata, preset="simulated", split="cells")
print(prepared)
print(prepared.obs["split"].value_counts())

# %% [markdown]
# ## 2. Train
# Settings go by name: model / guide / loss settings to `GpoVae(...)`, training settings to
# `train(...)`. `run_dir` keeps the run folder the command line would write (checkpoints,
# logs, the training plot); without it a temporary folder is used.

# %%
model = gv.GpoVae(prepared, n_latent=32)
model.train(max_epochs=EPOCHS, lr=3e-3, batch_size=128, run_dir=OUT / "run")
print(model)
print(model.history[["epoch", "train/loss_epoch", "val/loss"]].tail())
display(model.plot_training_curves())

# %% [markdown]
# ## 3. The learned GRN
# One row per ordered pair of treatment genes, most probable first: the q(M) edge
# probability, the mean edge weight E[E | M = 1] and its sign.

# %%
grn = model.get_grn()
print(grn.head(10))
display(model.plot_grn(threshold=0.5))
truth = {tuple(edge) for edge in adata.uns["true_grn"][["source", "target"]].to_numpy()}
top = grn.head(len(truth))
hits = sum((s, t) in truth for s, t in zip(top["source"], top["target"], strict=True))
print(f"{hits} of the top {len(truth)} edges are true edges")

# %% [markdown]
# ## 4. Predict responses and sample cells
# Conditions are perturbation labels; combinations join genes with `+`.

# %%
genes = model.data_info.treatment_names
ate = model.predict_ate([genes[0], f"{genes[0]}+{genes[1]}"])
print(ate.abs().T.sort_values(ate.index[0], ascending=False).head())
cells = model.sample([genes[0]], n_cells=200)          # AnnData in cell-eval's format
z = model.get_latent_representation()                 # cells x n_latent
print(cells, z.shape)

# %% [markdown]
# ## 5. Evaluate honestly
# Held-out test cells only, beside the per-perturbation mean, the global mean, a ridge
# model and the split-half ceiling. `out=` also writes the report folder with its plots.

# %%
result = gv.evaluate(model, prepared, split="test", out=OUT / "evaluation")
print(result.table())
print(result.summary())
display(result.plot_methods())
display(result.plot_grn_precision_recall())

# %% [markdown]
# ## 6. Save and load
# `save` writes a run folder that `gpo-vae evaluate` and `gpo-vae export-grn` read too.

# %%
saved = model.save(OUT / "saved_model")
again = gv.GpoVae.load(saved, prepared)
same = (again.predict_ate([genes[0]]) == model.predict_ate([genes[0]])).all().all()
print(f"loaded from {saved}: identical predictions: {same}")
