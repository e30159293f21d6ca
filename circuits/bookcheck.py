"""Check the built book as a reader sees it: every page in headless Chromium, offline.

``make check-book`` builds the book and runs ``python -m circuits.bookcheck _build/html``. Each
HTML page is served from a local HTTP server and loaded in Debian's Chromium (driven by
Playwright, ``executable_path=/usr/bin/chromium``); any request to another host is blocked and
counts as an error, so a page that needs the network (a CDN) fails. A page fails when

* raw TeX is visible: ``$$``, ``\\(`` or ``\\[`` delimiters, or TeX commands such as ``\\frac``
  in the text outside code, or a formula that MathJax left untypeset;
* a figure shows as the text ``<Figure size ...>`` (a matplotlib figure that was not rendered),
  or an output as its Python repr (``<IPython.core.display.Markdown object>``);
* an image is broken (not loaded, or zero size);
* the browser console reports an error, the page raises, or a request fails;
* a script or style sheet refers to another host (a CDN), even if the page never loads it.

A full-page screenshot of each page is written beside the report (``--screenshots``). Used by
the book page "Reproducibility" (how the book is checked) and by ``make check-book``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import socketserver
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

#: Debian's Chromium.
CHROMIUM = os.path.join(os.sep, "usr", "bin", "chromium")
#: Flags for a headless Chromium that neither needs nor calls the network by itself.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")
#: Folders of a Sphinx build that hold no pages.
SKIP_FOLDERS = frozenset({"_static", "_sources", "_images", "_downloads", ".doctrees"})
#: Seconds a page may take to load and typeset.
PAGE_TIMEOUT_S = 60.0
#: Page width of the screenshots (CSS pixels).
VIEWPORT = {"width": 1280, "height": 900}

# In the page: the visible text outside code and typeset math, math left untypeset, broken
# images, and "<Figure size" text.
_INSPECT = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const body = document.querySelector('main') || document.body;
  const clone = body.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, .highlight, textarea')
       .forEach(e => e.remove());
  const text = clone.textContent || '';
  const outputs = body.cloneNode(true);
  outputs.querySelectorAll('script, style, mjx-container, .cell_input, textarea')
         .forEach(e => e.remove());
  const shown = outputs.textContent || '';
  const math = Array.from(document.querySelectorAll('.math'));
  const untypeset = math.filter(e => !e.querySelector('mjx-container'))
                        .map(e => e.textContent.trim().slice(0, 60));
  const broken = Array.from(document.images)
      .filter(img => !img.complete || img.naturalWidth === 0)
      .map(img => img.getAttribute('src') || '(no src)');
  const here = location.host;
  const remote = [];
  for (const s of document.scripts) {
    if (s.src && new URL(s.src).host !== here) remote.push('script ' + s.src);
    const m = (s.textContent || '').match(/https?:\/\/[^\s"'`]+/);
    if (m) remote.push('address in a script: ' + m[0]);
  }
  for (const l of document.querySelectorAll('link[href]')) {
    const rel = (l.getAttribute('rel') || '').toLowerCase();
    if (/stylesheet|preload|modulepreload|icon|prefetch/.test(rel)
        && new URL(l.href).host !== here) remote.push('link ' + l.href);
  }
  return {text, shown, untypeset, broken, remote, mathjax: !!window.MathJax,
          formulas: math.length};
}
"""

_REDIRECT = re.compile(r"<meta\s+http-equiv=[\"']?refresh", re.IGNORECASE)
_RAW_TEX = (
    ("$$", "a '$$' display-math delimiter"),
    ("\\(", "a '\\(' inline-math delimiter"),
    ("\\[", "a '\\[' display-math delimiter"),
)
# $...$ holding TeX (a subscript, superscript or command): not a price
_DOLLAR_MATH = re.compile(r"\$[^$\s][^$\n]{0,120}?[_^\\][^$\n]{0,120}?\$")
_PYTHON_REPR = re.compile(r"<[\w.]+ object(?: at 0x[0-9a-f]+)?>")
_TEX_COMMANDS = ("\\frac", "\\mathrm", "\\alpha", "\\sum", "\\begin{", "\\text{", "\\cdot",
                 "\\left", "\\sqrt", "\\times", "\\le", "\\ge")


@dataclass
class PageReport:
    """What one page showed."""

    page: str
    """The page's path below the site root."""
    errors: list[str] = field(default_factory=list)
    """Everything that makes the page fail, in words."""
    formulas: int = 0
    """Formulas on the page (typeset or not)."""
    images: int = 0
    """Images on the page."""
    seconds: float = 0.0
    """Time to load, typeset, inspect and screenshot it."""

    @property
    def ok(self) -> bool:
        return not self.errors


def raw_tex(text: str) -> list[str]:
    """What in a page's visible text (code excluded) is TeX a reader should not see."""
    found = [why for token, why in _RAW_TEX if token in text]
    found += [f"inline math in dollars: {m.group(0)!r}" for m in _DOLLAR_MATH.finditer(text)]
    found += [f"the TeX command '{c}'" for c in _TEX_COMMANDS if c in text
              and not text[text.index(c) + len(c):][:1].isalpha()]
    return found


def find_pages(site: Path) -> list[Path]:
    """The HTML pages of a built site, sorted, without Sphinx's asset folders and without
    pages that only redirect to another (``<meta http-equiv="refresh">``, checked there)."""
    return sorted(p for p in site.rglob("*.html")
                  if not SKIP_FOLDERS & set(p.relative_to(site).parts[:-1])
                  and not _REDIRECT.search(p.read_text(errors="replace")[:2000]))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextmanager
def serve(site: Path) -> Iterator[str]:
    """Serve ``site`` on a free local port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _route(route, request, *, host: str, report: PageReport) -> None:
    """Let requests to the local server through; block and report any other host."""
    url = request.url
    if urlparse(url).netloc == host or url.startswith(("data:", "blob:", "about:")):
        route.continue_()
    else:
        report.errors.append(f"request to another host: {url}")
        route.abort()


def check_site(site: Path, screenshots: Path | None = None, pages: Sequence[Path] | None = None,
               executable: str = CHROMIUM) -> list[PageReport]:
    """Load every page of ``site`` (or ``pages``) in headless Chromium and report on each.

    Raises
    ------
    FileNotFoundError
        When ``site`` has no pages or Chromium is not installed (``make chromium``).
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    site = Path(site).resolve()
    pages = list(pages) if pages is not None else find_pages(site)
    if not pages:
        raise FileNotFoundError(f"no HTML pages under {site}; build the book first (make book)")
    if not Path(executable).exists():
        raise FileNotFoundError(f"Chromium not found at {executable}; run `make chromium` "
                                "(apt-get install chromium)")
    if screenshots is not None:
        screenshots.mkdir(parents=True, exist_ok=True)
    reports = []
    with serve(site) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True,
                                     args=list(CHROMIUM_FLAGS))
        try:
            context = browser.new_context(viewport=VIEWPORT)
            host = urlparse(base).netloc
            for path in pages:
                rel = path.resolve().relative_to(site).as_posix()
                report = PageReport(rel)
                t0 = time.perf_counter()
                page = context.new_page()
                page.set_default_timeout(PAGE_TIMEOUT_S * 1e3)

                page.route("**/*", functools.partial(_route, host=host, report=report))
                page.on("console", lambda m, report=report: report.errors.append(
                    f"console {m.type}: {m.text}") if m.type == "error" else None)
                page.on("pageerror", lambda e, report=report: report.errors.append(
                    f"page error: {e}"))
                page.on("requestfailed", lambda r, report=report: report.errors.append(
                    f"failed request: {r.url} ({r.failure})")
                    if urlparse(r.url).netloc == host else None)
                try:
                    page.goto(f"{base}/{rel}", wait_until="load")
                    found = page.evaluate(_INSPECT)
                    page.wait_for_load_state("networkidle")
                    report.formulas = found["formulas"]
                    report.images = page.evaluate("document.images.length")
                    report.errors += [f"raw TeX visible: {why}" for why in raw_tex(found["text"])]
                    report.errors += [f"formula not typeset by MathJax: {t!r}"
                                      for t in found["untypeset"]]
                    if "<Figure size" in found["shown"]:
                        report.errors.append("a figure shows as '<Figure size ...>' text")
                    for repr_text in _PYTHON_REPR.findall(found["shown"]):
                        report.errors.append(f"an output shows as its Python repr: {repr_text}")
                    report.errors += [f"broken image: {src}" for src in found["broken"]]
                    report.errors += [f"reference to another host: {r}" for r in found["remote"]]
                    if screenshots is not None:
                        shot = screenshots / (rel.replace("/", "__").removesuffix(".html") + ".png")
                        page.screenshot(path=str(shot), full_page=True)
                except PlaywrightError as error:
                    report.errors.append(f"page did not load: {error}".splitlines()[0])
                finally:
                    page.close()
                report.seconds = time.perf_counter() - t0
                reports.append(report)
        finally:
            browser.close()
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m circuits.bookcheck SITE [--screenshots DIR] [--chromium PATH]``: check every
    page; exit status 1 when a page fails, 2 when there is nothing to check."""
    parser = argparse.ArgumentParser(prog="python -m circuits.bookcheck",
                                     description="Check the built book in headless Chromium.")
    parser.add_argument("site", type=Path, help="the built HTML (e.g. _build/html)")
    parser.add_argument("--screenshots", type=Path, default=None,
                        help="write a full-page PNG of each page here")
    parser.add_argument("--chromium", default=CHROMIUM, help="Chromium executable")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    try:
        reports = check_site(args.site, args.screenshots, executable=args.chromium)
    except FileNotFoundError as error:
        print(f"check-book: {error}", file=sys.stderr)
        return 2
    for r in reports:
        state = "ok  " if r.ok else "FAIL"
        print(f"{state} {r.page} ({r.formulas} formulas, {r.images} images, {r.seconds:.1f} s)")
        for error in r.errors:
            print(f"       {error}")
    failed = sum(not r.ok for r in reports)
    print(f"check-book: {len(reports) - failed} of {len(reports)} pages ok "
          f"in {time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
