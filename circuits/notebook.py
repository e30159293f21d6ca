"""Helpers the book's notebooks share: quick or full mode.

A notebook's ``parameters`` cell holds ``mode = "auto"``; papermill may inject ``"quick"`` or
``"full"``. In ``"auto"`` the environment variable ``BOOK_QUICK`` decides (``0`` means full);
without it the book runs in quick mode.
"""

from __future__ import annotations

import os


def quick_mode(mode: str = "auto") -> bool:
    """True for quick mode (``"quick"``, or ``"auto"`` unless ``BOOK_QUICK=0``)."""
    if mode not in ("auto", "quick", "full"):
        raise ValueError(f"mode must be auto, quick or full, not {mode!r}")
    if mode == "auto":
        return os.environ.get("BOOK_QUICK", "1").strip().lower() not in ("0", "false", "no")
    return mode == "quick"
