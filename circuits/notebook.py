"""Helpers the book's notebooks share: quick or full mode.

A notebook's ``parameters`` cell holds ``mode = "auto"``; papermill may inject ``"quick"`` or
``"full"``. In ``"auto"`` the environment variable ``BOOK_QUICK`` decides (``0`` means full);
without it the book runs in quick mode.
"""

from __future__ import annotations

import os

#: Values of ``BOOK_QUICK`` for quick and for full mode (unset or empty: quick).
QUICK_VALUES = ("1", "true", "yes", "on", "quick")
FULL_VALUES = ("0", "false", "no", "off", "full")


def quick_mode(mode: str = "auto") -> bool:
    """True for quick mode (``"quick"``, or ``"auto"`` unless ``BOOK_QUICK`` is ``0``,
    ``false``, ``no``, ``off`` or ``full``).

    Raises
    ------
    ValueError
        For another mode, or a ``BOOK_QUICK`` that is neither a quick nor a full value (a
        misspelt ``BOOK_QUICK=ful`` would otherwise build the book in quick mode unnoticed).
    """
    if mode not in ("auto", "quick", "full"):
        raise ValueError(f"mode must be auto, quick or full, not {mode!r}")
    if mode == "auto":
        value = os.environ.get("BOOK_QUICK", "").strip().lower()
        if value and value not in QUICK_VALUES + FULL_VALUES:
            raise ValueError(f"BOOK_QUICK must be one of {', '.join(QUICK_VALUES)} (quick) or "
                             f"{', '.join(FULL_VALUES)} (full), not {value!r}")
        return value not in FULL_VALUES
    return mode == "quick"


def show_figures(*formats: str) -> None:
    """Display matplotlib figures as images in the running IPython kernel, whatever the backend.

    With ``MPLBACKEND=Agg`` (or any non-inline backend) a kernel shows a figure only as the text
    ``<Figure size ...>``, and figures glued with myst-nb would appear so in the book. Each
    notebook of the book calls this in its set-up cell. ``formats`` default to PNG; outside a
    kernel this does nothing.
    """
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is None:
        return
    set_matplotlib_formats(*(formats or ("png",)), bbox_inches="tight")


def glue_figure(name: str, fig) -> None:
    """Glue a matplotlib figure for a ``{glue:figure}`` of the page, and close it so that no
    backend shows it a second time as the cell's own output (the inline backend of a kernel
    started without ``MPLBACKEND=Agg`` would). Used by every chapter of the book."""
    import matplotlib.pyplot as plt
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)
