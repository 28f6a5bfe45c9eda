"""Figures without pyplot: the library never switches the user's matplotlib backend.

pyplot keeps a global registry of figures and needs a backend; a library that calls
``matplotlib.use("Agg")`` switches a notebook user's inline backend under them (their
next ``plt.show()`` shows nothing). :class:`matplotlib.figure.Figure` objects need
neither: they are saved with ``fig.savefig`` and shown inline when a notebook cell
returns them, and they are freed with their last reference.
"""

from __future__ import annotations

import io
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
    """In IPython / Jupyter, let a returned Figure display as a PNG image when nothing
    displays figures yet (pyplot's inline backend registers the same when it is imported);
    elsewhere nothing. It only adds a display formatter: the user's backend and figure
    formats stay as they are, and pyplot is not imported."""
    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or getattr(shell, "_gpo_vae_figure_formats", False):
        return
    from matplotlib.figure import Figure

    formatters = shell.display_formatter.formatters
    if not any(_displays(formatter, Figure) for formatter in formatters.values()):
        formatters["image/png"].for_type(Figure, _png_bytes)
    shell._gpo_vae_figure_formats = True


def _displays(formatter, kind) -> bool:
    try:
        formatter.lookup_by_type(kind)
    except KeyError:
        return False
    return True


def _png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()
