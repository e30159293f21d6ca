"""Notebook helpers: quick or full mode, figures shown as images under any backend."""

import base64

import matplotlib
import matplotlib.pyplot as plt
import pytest

from circuits.notebook import quick_mode, show_figures


def test_quick_mode(monkeypatch):
    monkeypatch.delenv("BOOK_QUICK", raising=False)
    assert quick_mode() is True
    monkeypatch.setenv("BOOK_QUICK", "0")
    assert quick_mode("auto") is False
    assert quick_mode("quick") is True
    assert quick_mode("full") is False
    with pytest.raises(ValueError, match="auto, quick or full"):
        quick_mode("fast")
    for value, quick in (("", True), (" Yes ", True), ("full", False), ("OFF", False)):
        monkeypatch.setenv("BOOK_QUICK", value)
        assert quick_mode() is quick
    monkeypatch.setenv("BOOK_QUICK", "ful")  # a typo is an error, not a quick build
    with pytest.raises(ValueError, match=r"BOOK_QUICK must be one of .* not 'ful'"):
        quick_mode()


def test_figures_display_as_png_with_the_agg_backend():
    from IPython.core.interactiveshell import InteractiveShell

    assert matplotlib.get_backend().lower() == "agg"
    shell = InteractiveShell.instance()
    try:
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        before = shell.display_formatter.format(fig)[0]
        show_figures()
        after = shell.display_formatter.format(fig)[0]
        plt.close(fig)
    finally:
        InteractiveShell.clear_instance()
    assert "image/png" not in before
    png = after["image/png"]
    png = base64.b64decode(png) if isinstance(png, str) else png
    assert png.startswith(b"\x89PNG")


def test_glue_figure_closes_the_figure_it_glues(capsys):
    from circuits.notebook import glue_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    assert plt.fignum_exists(fig.number)
    glue_figure("demo_fig", fig)
    assert not plt.fignum_exists(fig.number)  # no backend can show it a second time
