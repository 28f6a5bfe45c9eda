"""Figures without pyplot: the library never switches the user's matplotlib backend.

pyplot keeps a global registry of figures and needs a backend; a library that calls
``matplotlib.use("Agg")`` switches a notebook user's inline backend under them (their
next ``plt.show()`` shows nothing). :class:`matplotlib.figure.Figure` objects need
neither: they are saved with ``fig.savefig`` and shown inline when a notebook cell
returns them, and they are freed with their last reference.
"""

from __future__ import annotations

import sys

_FIGURE_KEYS = ("figsize", "dpi", "layout", "constrained_layout", "tight_layout")


def subplots(*args, **kwargs):
    """``matplotlib.pyplot.subplots`` without pyplot: a new Figure and its axes.

    Figure settings (``figsize``, ``dpi``, ``layout``) go to the Figure, the rest to
    :meth:`matplotlib.figure.Figure.subplots`.

    Examples
    --------
    >>> from gpo_vae.figures import subplots
    >>> fig, ax = subplots(figsize=(3, 2))
    >>> _ = ax.plot([0, 1], [1, 0])
    """
    from matplotlib.figure import Figure

    figure_kwargs = {key: kwargs.pop(key) for key in _FIGURE_KEYS if key in kwargs}
    fig = Figure(**figure_kwargs)
    _show_figures_inline()
    return fig, fig.subplots(*args, **kwargs)


def _show_figures_inline() -> None:
    """In IPython / Jupyter, let a returned Figure display as an image (what the inline
    backend registers when pyplot is imported); elsewhere nothing. It adds a display
    formatter only: the user's backend stays as it is."""
    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or getattr(shell, "_gpo_vae_figure_formats", False):
        return
    from IPython.core.pylabtools import select_figure_formats

    formatter = shell.display_formatter.formatters["image/png"]
    if not _has_figure_format(formatter):   # pyplot's inline backend may have done it
        select_figure_formats(shell, {"png"})
    shell._gpo_vae_figure_formats = True


def _has_figure_format(formatter) -> bool:
    from matplotlib.figure import Figure

    try:
        formatter.lookup_by_type(Figure)
    except KeyError:
        return False
    return True
