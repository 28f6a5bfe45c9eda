"""Library figures: pyplot-free, shown inline in IPython without touching the user's
figure formats."""

from __future__ import annotations

import pytest

from gpo_vae.figures import subplots


def test_subplots_splits_figure_and_axes_settings():
    fig, axes = subplots(1, 2, figsize=(4, 2), squeeze=False)
    assert tuple(fig.get_size_inches()) == (4, 2) and axes.shape == (1, 2)


def test_figures_display_as_png_in_ipython_and_keep_the_users_formats():
    shell_module = pytest.importorskip("IPython.core.interactiveshell")
    from matplotlib.figure import Figure

    shell = shell_module.InteractiveShell.instance()
    try:
        formatters = shell.display_formatter.formatters
        fig, ax = subplots(figsize=(2, 2))
        png = formatters["image/png"](fig)
        assert png[:4] == b"\x89PNG"
        # a user who chose SVG keeps SVG only: nothing is added beside it
        shell._gpo_vae_figure_formats = False
        formatters["image/png"].pop(Figure)
        formatters["image/svg+xml"].for_type(Figure, lambda f: "<svg/>")
        subplots(figsize=(2, 2))
        assert formatters["image/png"](fig) is None
    finally:
        shell_module.InteractiveShell.clear_instance()
