"""The book's page check: headless Chromium fails pages with raw TeX, broken images, figure
text, console errors or requests to other hosts, and passes clean pages with typeset math."""

import base64
import shutil
from pathlib import Path

import pytest

from circuits.bookcheck import CHROMIUM, check_site, find_pages, raw_tex

ROOT = Path(__file__).resolve().parents[2]
MATHJAX = ROOT / ".venv" / "mathjax" / "mathjax"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason="Debian's chromium is not installed (make chromium)")
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAF"
                       "BQIAX8jx0gAAAABJRU5ErkJggg==")


def _page(body: str, head: str = "") -> str:
    return f"<!doctype html><html><head><meta charset='utf-8'>{head}</head>" \
           f"<body><main>{body}</main></body></html>"


def test_raw_tex_is_found_in_text_not_in_words():
    assert raw_tex("the FoM $$\\frac{a}{b}$$") == [
        "a '$$' display-math delimiter", "the TeX command '\\frac'"]
    assert raw_tex("costs 5 $ per \\(x\\)") == ["a '\\(' inline-math delimiter"]
    assert raw_tex("a plain sentence about 5 $ and C:\\lefty") == []
    assert raw_tex("A $g_m/i_d$ based methodology") == [
        "inline math in dollars: '$g_m/i_d$'"]
    assert raw_tex("from $5 to $6 a_b") == []


@needs_chromium
def test_pages_with_raw_tex_broken_images_or_errors_fail(tmp_path):
    site = tmp_path / "html"
    (site / "_static").mkdir(parents=True)
    (site / "_static" / "x.png").write_bytes(PNG)
    (site / "good.html").write_text(_page("<p>Plain text, 5 $ a unit.</p><img src='_static/x.png'>"
                                          "<pre>$$ in code is fine $$</pre>"))
    (site / "tex.html").write_text(_page("<p>The FoM is $$\\mathrm{GBW}^2 / P$$.</p>"))
    (site / "untypeset.html").write_text(
        _page("<span class='math notranslate'>\\(x^2\\)</span>"))
    (site / "figure.html").write_text(_page(
        "<div class='cell_output'><pre>&lt;Figure size 640x480 with 1 Axes&gt;</pre></div>"
        "<p><code>&lt;IPython.core.display.Markdown object&gt;</code></p>"
        "<div class='cell_input'><pre>print('&lt;Figure size is fine in code&gt;')</pre></div>"))
    (site / "image.html").write_text(_page("<img src='_static/missing.png'>"))
    (site / "console.html").write_text(_page("<script>console.error('boom')</script>"))
    (site / "cdn.html").write_text(_page(
        "", "<script src='https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js'></script>"))
    (site / "index.html").write_text("<html><head><meta http-equiv='Refresh' "
                                     "content='0; url=good.html'></head></html>")
    (site / "cdnstring.html").write_text(_page(
        "", "<script>const URL_JS = 'https://unpkg.com/thebe@0.8.2/lib/index.js'</script>"))
    assert [p.name for p in find_pages(site)] == [
        "cdn.html", "cdnstring.html", "console.html", "figure.html", "good.html", "image.html",
        "tex.html", "untypeset.html"]
    shots = tmp_path / "shots"
    reports = {r.page: r for r in check_site(site, shots)}
    assert reports["good.html"].ok, reports["good.html"].errors
    assert reports["good.html"].images == 1
    assert any("'$$'" in e for e in reports["tex.html"].errors)
    assert any("not typeset" in e for e in reports["untypeset.html"].errors)
    assert any("<Figure size" in e for e in reports["figure.html"].errors)
    assert any("Python repr: <IPython.core.display.Markdown object>" in e
               for e in reports["figure.html"].errors)
    assert any("broken image" in e for e in reports["image.html"].errors)
    assert any("boom" in e for e in reports["console.html"].errors)
    assert any("another host" in e and "jsdelivr" in e for e in reports["cdn.html"].errors)
    assert any("address in a script" in e and "unpkg" in e
               for e in reports["cdnstring.html"].errors)
    assert (shots / "tex.png").read_bytes().startswith(b"\x89PNG")


@needs_chromium
@pytest.mark.skipif(not MATHJAX.is_dir(), reason="MathJax not installed (make mathjax)")
def test_math_served_locally_is_typeset(tmp_path):
    site = tmp_path / "html"
    (site / "_static").mkdir(parents=True)
    shutil.copytree(MATHJAX, site / "_static" / "mathjax")
    (site / "math.html").write_text(_page(
        "<p>Adapted: <span class='math notranslate nohighlight'>"
        "\\(W = W_0 + \\frac{\\alpha}{r} B A\\)</span></p>",
        "<script defer src='_static/mathjax/tex-chtml.js'></script>"))
    (report,) = check_site(site)
    assert report.ok, report.errors
    assert report.formulas == 1
