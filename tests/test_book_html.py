"""The built book, opened in a real headless Chromium.

Run ``make book`` first (it writes ``_build/html``); then ``pytest -m book``.
The site is served over HTTP on 127.0.0.1 (search needs HTTP, not file://),
one browser session serves the whole module, and nothing outside 127.0.0.1 may
be contacted: the book must work offline.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (``make system-deps``).
"""
from __future__ import annotations

import functools
import http.server
import shutil
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
ARTIFACTS = ROOT / "artifacts"
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
CHAPTER1 = "book/ch1_backprop/index.html"
PAGE_TIMEOUT_S = 30


def toc_pages() -> list[str]:
    """Every page the table of contents lists, as paths of built HTML files."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            for key in ("chapters", "sections", "parts"):
                walk(entry.get(key))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return [str(Path(f).with_suffix("")) + ".html" for f in files]


PAGES = toc_pages()


# -- fixtures: one server and one browser for the module ----------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (signature of the base class)
        pass


@pytest.fixture(scope="module")
def site() -> Path:
    if not (SITE / "index.html").is_file():
        pytest.fail(f"the built book is missing ({SITE / 'index.html'} not found): run `make book` first")
    missing = [p for p in PAGES if not (SITE / p).is_file()]
    if missing:
        pytest.fail(f"pages listed in _toc.yml were not built: {missing}; run `make book` again")
    return SITE


@pytest.fixture(scope="module")
def base_url(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="book-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for tool in (CHROMIUM, CHROMEDRIVER):
        if not tool.exists():
            pytest.fail(f"{tool} not found: install Debian's chromium and chromium-driver "
                        f"(`make system-deps`)")
    profile = tempfile.mkdtemp(prefix="book-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,1600", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    driver.set_script_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(driver, base_url: str, page: str) -> list[dict]:
    """Load ``page``, wait until MathJax (if any) has finished; return the console log."""
    driver.get_log("browser")  # drop messages of earlier pages
    driver.get(base_url + page)
    driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const ready = () => (window.MathJax && MathJax.startup && MathJax.startup.promise)
            ? MathJax.startup.promise.then(() => done(true), () => done(false)) : done(true);
        if (document.readyState === "complete") ready();
        else window.addEventListener("load", ready);
        """
    )
    return driver.get_log("browser")


# Everything the tests look at on one page, gathered in a single visit.
_INSPECT_JS = r"""
const article = document.querySelector('article') || document.body;
const prose = article.cloneNode(true);
prose.querySelectorAll('pre, code, mjx-container, script, style').forEach(e => e.remove());
const math = Array.from(document.querySelectorAll('.math'));
const errors = [];
document.querySelectorAll('.cell_output .output.error, .cell_output .output.traceback, '
                          + '.cell_output .traceback').forEach(e => errors.push(e.innerText.slice(0, 300)));
document.querySelectorAll('.cell_output').forEach(e => {
    if (/Traceback \(most recent call last\)|\w+Error: /.test(e.innerText)) errors.push(e.innerText.slice(0, 300));
});
return {
    title: document.title,
    resources: performance.getEntriesByType('resource').map(e => e.name)
        .concat(performance.getEntriesByType('navigation').map(e => e.name)),
    images: Array.from(document.images).map(img => ({
        src: img.currentSrc || img.src, complete: img.complete,
        width: img.naturalWidth, alt: (img.getAttribute('alt') || '').trim()})),
    errors: errors,
    figures: document.querySelectorAll('figure img, div.figure img').length,
    captions: document.querySelectorAll('figcaption').length,
    outputs: document.querySelectorAll('.cell_output').length,
    mathjax: Boolean(window.MathJax && MathJax.version),
    mathjaxScripts: Array.from(document.scripts).map(s => s.src).filter(s => /mathjax/i.test(s)),
    math: math.length,
    containers: document.querySelectorAll('mjx-container').length,
    displayMath: document.querySelectorAll('mjx-container[display="true"]').length,
    untypeset: math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80)),
    rawDollars: prose.innerText.includes('$$'),
    rawTex: /\\(frac|partial|lVert|sum_)/.test(prose.innerText),
};
"""


@pytest.fixture(scope="module")
def visit(base_url, browser):
    """``visit(page)`` loads a page once per module and returns what was found on it."""
    reports: dict[str, dict] = {}

    def _visit(page: str) -> dict:
        if page not in reports:
            log = open_page(browser, base_url, page)
            report = browser.execute_script(_INSPECT_JS)
            report["console"] = log
            reports[page] = report
        return reports[page]

    return _visit


# -- tests --------------------------------------------------------------------------

def test_toc_lists_chapter_1():
    assert CHAPTER1 in PAGES, f"_toc.yml should list chapter 1; pages found: {PAGES}"


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_without_console_errors(visit, page):
    report = visit(page)
    assert report["title"], f"{page}: the page has no title"
    severe = [entry["message"] for entry in report["console"] if entry["level"] == "SEVERE"]
    assert not severe, f"{page}: browser console errors:\n" + "\n".join(severe)


@pytest.mark.parametrize("page", PAGES)
def test_every_resource_is_local(visit, page):
    urls = visit(page)["resources"]
    assert urls, f"{page}: no resources recorded"
    remote = [u for u in urls if urlsplit(u).hostname != "127.0.0.1"]
    assert not remote, f"{page}: loaded from outside the book's own server:\n" + "\n".join(remote)


@pytest.mark.parametrize("page", PAGES)
def test_images_load_and_have_alt_text(visit, page):
    images = visit(page)["images"]
    broken = [i["src"] for i in images if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"{page}: images that did not load: {broken}"
    no_alt = [i["src"] for i in images if not i["alt"]]
    assert not no_alt, f"{page}: images without alt text: {no_alt}"


@pytest.mark.parametrize("page", PAGES)
def test_no_error_output_in_cells(visit, page):
    errors = visit(page)["errors"]
    assert not errors, f"{page}: cell outputs show errors:\n" + "\n---\n".join(errors)


@pytest.mark.parametrize("page", PAGES)
def test_math_is_typeset(visit, page):
    report = visit(page)
    assert not report["untypeset"], f"{page}: math left untypeset: {report['untypeset']}"
    assert not report["rawDollars"], f"{page}: raw $$ left in the text"
    assert not report["rawTex"], f"{page}: raw TeX commands left in the text"
    for src in report["mathjaxScripts"]:
        assert urlsplit(src).hostname == "127.0.0.1", f"{page}: MathJax from {src}"


def test_mathjax_typesets_chapter1(visit):
    report = visit(CHAPTER1)
    summary = {k: report[k] for k in ("mathjax", "mathjaxScripts", "math", "containers", "displayMath")}
    assert report["mathjax"], f"MathJax did not load on {CHAPTER1}: {summary}"
    assert report["mathjaxScripts"], f"no MathJax script on {CHAPTER1}"
    assert report["math"] >= 20 and report["containers"] >= report["math"], summary
    assert report["displayMath"] >= 5, f"expected display equations: {summary}"


def test_chapter1_has_figures_and_executed_outputs(visit):
    report = visit(CHAPTER1)
    counts = {k: report[k] for k in ("figures", "captions", "outputs")}
    assert counts["figures"] >= 5, f"expected the chapter's figures, found {counts}"
    assert counts["captions"] >= counts["figures"], f"every figure needs a caption: {counts}"
    assert counts["outputs"] >= 10, f"cells do not seem to have been executed: {counts}"


def test_search_finds_chapter1(base_url, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(browser, base_url, "search.html?q=backpropagation")
    WebDriverWait(browser, PAGE_TIMEOUT_S).until(
        lambda d: d.execute_script(
            "const s = document.getElementById('search-progress');"
            "return document.querySelectorAll('#search-results li').length > 0"
            " || (s && /found|no /i.test(s.innerText) && !/Preparing/i.test(s.innerText));"),
        message="the search page never finished searching")
    hits = browser.execute_script(
        "return Array.from(document.querySelectorAll('#search-results li a')).map(a => a.href);")
    assert any("ch1_backprop/index.html" in h for h in hits), f"search for 'backpropagation' returned {hits}"


def test_screenshot_chapter1(base_url, browser):
    """Saves artifacts/ch1_backprop.png (top of the page) and ch1_backprop_full.png (whole page)."""
    import base64

    open_page(browser, base_url, CHAPTER1)
    ARTIFACTS.mkdir(exist_ok=True)
    top = ARTIFACTS / "ch1_backprop.png"
    assert browser.save_screenshot(str(top)), "screenshot failed"
    height = browser.execute_script("return document.documentElement.scrollHeight")
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 1280, "height": min(int(height), 30000), "scale": 1}})
    full = ARTIFACTS / "ch1_backprop_full.png"
    full.write_bytes(base64.b64decode(shot["data"]))
    assert top.stat().st_size > 10_000 and full.stat().st_size > top.stat().st_size
