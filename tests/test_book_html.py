"""The built book, opened in a real headless Chromium.

Run ``make book`` first (it writes ``_build/html``); then ``pytest -m book``.
``BOOK_HTML_DIR=/path/to/html`` tests a book built elsewhere (``--path-output``).
The site is served over HTTP on 127.0.0.1 (search needs HTTP, not file://),
one browser session serves the whole module, and nothing outside 127.0.0.1 may
be contacted: the book must work offline.

What a reader would notice is checked: pages load without console errors, math is
typeset, figures load and have alt text, no cell shows a traceback or a widget that
cannot run, every internal link and anchor resolves, search finds pages offline,
every page downloads as .ipynb and .md, chapters, figures, equations and exercises
are numbered, solutions start folded, figures stay legible in the dark theme, and
axe-core finds no critical accessibility violation.  Screenshots and the axe
reports are saved under ``artifacts/``.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (``make system-deps``) and
``node_modules/axe-core`` (``npm ci --no-audit --no-fund`` at the repository root).
"""
from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import pytest
import yaml

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("BOOK_HTML_DIR") or ROOT / "_build" / "html")
ARTIFACTS = ROOT / "artifacts"
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHAPTER1 = "book/ch1_backprop/index.html"
CHAPTER2 = "book/ch2_conv/index.html"
CHAPTER2_IM2COL = "book/ch2_conv/09_im2col.html"
GLOSSARY = "book/glossary.html"
BIBLIOGRAPHY = "book/references.html"
PAGE_TIMEOUT_S = 30
AXE_TIMEOUT_S = 180


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


def toc_chapter_pages() -> dict[str, list[str]]:
    """Each chapter of the table of contents (its index page) -> the built HTML files of the
    chapter: the index page, then its section pages (``sections:``) in reading order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))
    found: dict[str, list[str]] = {}

    def html(entry) -> str:
        return str(Path(entry["file"]).with_suffix("")) + ".html"

    def sections(entry):
        for section in entry.get("sections") or []:
            yield html(section)
            yield from sections(section)

    for part in toc.get("parts") or [{"chapters": toc.get("chapters")}]:
        for chapter in part.get("chapters") or []:
            found[html(chapter)] = [html(chapter), *sections(chapter)]
    return found


PAGES = toc_pages()
# The numbered chapters (book/chN_*/index.html), in the order of the table of contents:
# every chapter gets the checks of numbering, exercises, glossary links and citations,
# over all its pages (a chapter split into section pages has one page per section).
CHAPTERS = [page for page in PAGES if re.match(r"book/ch\d+_[^/]+/index\.html$", page)]
CHAPTER_PAGES = {chapter: pages for chapter, pages in toc_chapter_pages().items() if chapter in CHAPTERS}
# Pages that end with exercises: every section page, and a chapter's index page when the
# chapter has no sections.
EXERCISE_PAGES = [page for chapter in CHAPTERS for page in (CHAPTER_PAGES[chapter][1:] or [chapter])]
# Pages Sphinx generates beside those of the table of contents.
GENERATED_PAGES = ["search.html", "genindex.html"]
# Screenshots: artifacts/<name>.png (top of the page) and <name>_full.png (whole page).
KEY_PAGES = {"intro": "book/intro.html", "ch1_backprop": CHAPTER1, "ch2_conv": CHAPTER2,
             "glossary": GLOSSARY}
# Papers the course must cite (the list of the issue), by a phrase of their title.
REQUIRED_PAPERS = [
    "Gradient-based learning applied to document recognition",            # LeCun et al. 1998
    "ImageNet classification with deep convolutional neural networks",    # Krizhevsky et al. 2012
    "Very deep convolutional networks for large-scale image recognition",  # Simonyan, Zisserman 2014
    "Going deeper with convolutions",                                      # Szegedy et al. 2015
    "Rethinking the Inception architecture",                               # Szegedy et al. 2016
    "Deep residual learning for image recognition",                        # He et al. 2016
    "Batch normalization",                                                 # Ioffe, Szegedy 2015
    "Visualizing and understanding convolutional networks",                # Zeiler, Fergus 2014
    "Convolutional neural networks for sentence classification",           # Kim 2014
    "A convolutional neural network for modelling sentences",              # Kalchbrenner et al. 2014
    "Mastering the game of Go",                                            # Silver et al. 2016
    "Image style transfer using convolutional neural networks",            # Gatys et al. 2016
    "Rich feature hierarchies",                                            # Girshick et al. 2014
    "Mask R-CNN",                                                          # He et al. 2017
    "Understanding the difficulty of training deep feedforward",           # Glorot, Bengio 2010
    "Dropout: a simple way to prevent neural networks from overfitting",   # Srivastava et al. 2014
]
# Chinese terms of the original slides that the glossary must give.
REQUIRED_CHINESE_TERMS = ["卷积", "池化", "感受野", "权值共享", "步长", "零填充", "特征映射", "互相关"]


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
    if (/Traceback \(most recent call last\)|\b\w+Error: /.test(e.innerText)) errors.push(e.innerText.slice(0, 300));
});
// A widget cannot run on a static page: it would show as its Python repr or an empty view.
const widgets = [];
document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')
    .forEach(e => widgets.push('widget view: ' + e.textContent.slice(0, 120)));
document.querySelectorAll('.cell_output').forEach(e => {
    const m = e.innerText.match(/^\s*((\w+Box|\w*Slider|Dropdown|Checkbox|Output|interactive|\w*Explorer)[(:].{0,80})/m);
    if (m) widgets.push(m[1]);
});
return {
    title: document.title,
    resources: performance.getEntriesByType('resource').map(e => e.name)
        .concat(performance.getEntriesByType('navigation').map(e => e.name)),
    images: Array.from(document.images).map(img => ({
        src: img.currentSrc || img.src, complete: img.complete,
        width: img.naturalWidth, alt: (img.getAttribute('alt') || '').trim()})),
    errors: errors,
    widgets: widgets,
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


def save_screenshots(browser, name: str) -> tuple[Path, Path]:
    """Save artifacts/<name>.png (the window) and artifacts/<name>_full.png (the whole page)."""
    ARTIFACTS.mkdir(exist_ok=True)
    top = ARTIFACTS / f"{name}.png"
    assert browser.save_screenshot(str(top)), "screenshot failed"
    height = browser.execute_script("return document.documentElement.scrollHeight")
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 1280, "height": min(int(height), 30000), "scale": 1}})
    full = ARTIFACTS / f"{name}_full.png"
    full.write_bytes(base64.b64decode(shot["data"]))
    return top, full


# -- every page: loads cleanly, offline, with its figures and math -------------------

def test_toc_lists_chapter_1():
    assert CHAPTER1 in PAGES, f"_toc.yml should list chapter 1; pages found: {PAGES}"


def test_toc_lists_the_sections_of_chapters_2_and_3():
    for chapter in (CHAPTER2, "book/ch3_layers/index.html"):
        pages = CHAPTER_PAGES[chapter]
        assert len(pages) > 5 and all(page in PAGES for page in pages), pages
    assert CHAPTER2_IM2COL in CHAPTER_PAGES[CHAPTER2]


@pytest.mark.parametrize("page", PAGES + GENERATED_PAGES)
def test_page_loads_without_console_errors(visit, page):
    report = visit(page)
    assert report["title"], f"{page}: the page has no title"
    severe = [entry["message"] for entry in report["console"] if entry["level"] == "SEVERE"]
    assert not severe, f"{page}: browser console errors:\n" + "\n".join(severe)


@pytest.mark.parametrize("page", PAGES + GENERATED_PAGES)
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
def test_no_widget_shows_as_broken(visit, page):
    """Widgets run only in a live notebook; a static page must show their pre-rendered picture."""
    widgets = visit(page)["widgets"]
    assert not widgets, f"{page}: outputs show widgets that cannot run here:\n" + "\n".join(widgets)


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


_INDEX_JS = r"""
const article = document.querySelector('article');
return {links: Array.from(article.querySelectorAll('a[href]')).map(a => a.href),
        headings: Array.from(article.querySelectorAll('h2')).map(h => h.textContent.replace(/[#¶]/g, '').trim())};
"""


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_index_lists_its_sections_and_has_the_summary(base_url, browser, chapter):
    """A chapter's index page links, in its text (not only in the sidebar), to every one of
    its section pages, and keeps the chapter's summary."""
    open_page(browser, base_url, chapter)
    found = browser.execute_script(_INDEX_JS)
    targets = {urldefrag(link)[0] for link in found["links"]}
    missing = [page for page in CHAPTER_PAGES[chapter][1:] if base_url + page not in targets]
    assert not missing, f"{chapter}: the page does not link to its sections {missing}"
    assert any(h.endswith("Summary") for h in found["headings"]), f"{chapter}: no Summary: {found['headings']}"


# -- search (offline: the index is a local file) ---------------------------------------

def search_hits(browser, base_url: str, query: str) -> list[str]:
    """Run the book's own search page for ``query``; return the result links."""
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(browser, base_url, f"search.html?q={query}")
    WebDriverWait(browser, PAGE_TIMEOUT_S).until(
        lambda d: d.execute_script(
            "const s = document.getElementById('search-progress');"
            "return document.querySelectorAll('#search-results li').length > 0"
            " || (s && /found|no /i.test(s.innerText) && !/Preparing/i.test(s.innerText));"),
        message=f"the search page never finished searching for {query!r}")
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('#search-results li a')).map(a => a.href);")


def test_search_finds_chapter1(base_url, browser):
    hits = search_hits(browser, base_url, "backpropagation")
    assert any("ch1_backprop/index.html" in h for h in hits), f"search for 'backpropagation' returned {hits}"


def test_search_finds_the_conv_layer_page_for_im2col(base_url, browser):
    hits = search_hits(browser, base_url, "im2col")
    assert any(CHAPTER2_IM2COL in h for h in hits), f"search for 'im2col' returned {hits}"


def test_search_finds_the_glossary_for_a_chinese_term(base_url, browser):
    hits = search_hits(browser, base_url, "感受野")
    assert any(GLOSSARY in h for h in hits), f"search for '感受野' returned {hits}"


# -- structure: numbering, exercises, glossary, bibliography ---------------------------

_NUMBERS_JS = r"""
const text = sel => Array.from(document.querySelectorAll(sel)).map(e => e.textContent.replace(/\s+/g, ' ').trim());
return {
    title: text('article h1 .section-number'),
    sections: text('article h2 .section-number'),
    figures: text('article figcaption .caption-number'),
    equations: text('article span.eqno').map(t => t.replace(/\s+/g, '')),
    exercises: text('article div.exercise .caption-number'),
};
"""


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_sections_figures_equations_exercises_are_numbered(base_url, browser, chapter):
    """The chapter's index page is numbered N., its k-th section page N.k. and that page's
    headings N.k.j.  Figures, equations and exercises are numbered N.1, N.2, ... through
    the whole chapter, across its pages, each number once and none skipped."""
    number = CHAPTERS.index(chapter) + 1
    numbered: dict[str, list[str]] = {"figures": [], "equations": [], "exercises": []}
    for k, page in enumerate(CHAPTER_PAGES[chapter]):
        open_page(browser, base_url, page)
        found = browser.execute_script(_NUMBERS_JS)
        title = f"{number}." if k == 0 else f"{number}.{k}."
        assert found["title"] == [title], f"{page}: expected the title numbered {title}: {found}"
        wrong = [t for t in found["sections"] if not t.startswith(title)]
        assert not wrong, f"{page}: headings not numbered {title}j: {wrong}"
        if k:
            assert found["sections"], f"{page}: no numbered headings"
        for kind in numbered:
            numbered[kind] += [(page, t) for t in found[kind]]
    for kind, (prefix, suffix) in {"figures": (f"Fig. {number}.", ""), "equations": (f"({number}.", ")"),
                                   "exercises": (f"Exercise {number}.", "")}.items():
        assert numbered[kind], f"{chapter}: no numbered {kind} on any page of the chapter"
        wrong = [f"{page}: {t}" for page, t in numbered[kind] if not t.startswith(prefix)]
        assert not wrong, f"{chapter}: {kind} not numbered {prefix}k:\n" + "\n".join(wrong)
        counts = [int(re.match(re.escape(prefix) + r"(\d+)", t).group(1)) for _, t in numbered[kind]]
        assert counts == list(range(1, len(counts) + 1)), \
            f"{chapter}: {kind} should be numbered {prefix}1, {prefix}2, ... in page order: " + \
            ", ".join(f"{page.rsplit('/', 1)[-1]} {t}" for page, t in numbered[kind])


_SOLUTIONS_JS = r"""
const shown = e => {
    if (!e) return false;
    const style = getComputedStyle(e), box = e.getBoundingClientRect();
    return style.display !== 'none' && style.visibility !== 'hidden' && style.opacity !== '0' && box.height > 0;
};
const solutions = Array.from(document.querySelectorAll('article div.solution'));
return {
    exercises: document.querySelectorAll('article div.exercise').length,
    solutions: solutions.length,
    toggles: solutions.filter(s => s.querySelector('button.toggle-button')).length,
    open: solutions.filter(s => shown(s.querySelector('section'))).length,
};
"""


@pytest.mark.parametrize("page", EXERCISE_PAGES)
def test_exercises_keep_their_solutions_folded(base_url, browser, page):
    """Every section page ends with its own exercises (a chapter without sections has at
    least three); each exercise has a solution, folded until its toggle is clicked."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(browser, base_url, page)
    found = browser.execute_script(_SOLUTIONS_JS)
    least = 3 if page in CHAPTERS else 1
    assert found["exercises"] >= least and found["solutions"] == found["exercises"], f"{page}: {found}"
    assert found["toggles"] == found["solutions"], f"{page}: every solution needs a toggle button: {found}"
    assert found["open"] == 0, f"{page}: solutions must start hidden: {found}"
    button = browser.find_element(By.CSS_SELECTOR, "article div.solution button.toggle-button")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()
    WebDriverWait(browser, 5).until(lambda d: d.execute_script(_SOLUTIONS_JS)["open"] == 1,
                                    message=f"{page}: clicking the toggle did not reveal the solution")


def test_glossary_gives_the_chinese_terms_of_the_slides(base_url, browser):
    open_page(browser, base_url, GLOSSARY)
    text = browser.execute_script("return document.querySelector('article').innerText;")
    missing = [t for t in REQUIRED_CHINESE_TERMS if t not in text]
    assert not missing, f"the glossary lacks the Chinese terms {missing}"


def test_bibliography_lists_the_papers_the_course_uses(base_url, browser):
    open_page(browser, base_url, BIBLIOGRAPHY)
    text = browser.execute_script("return document.querySelector('article').innerText;").lower()
    missing = [t for t in REQUIRED_PAPERS if t.lower() not in text]
    assert not missing, f"the bibliography lacks {missing}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_links_terms_to_the_glossary_and_cites_papers(base_url, browser, chapter):
    terms, cites = [], 0
    for page in CHAPTER_PAGES[chapter]:
        open_page(browser, base_url, page)
        found = browser.execute_script(
            "return {terms: Array.from(document.querySelectorAll('article a[href*=\"glossary.html#term-\"]'))"
            "                    .map(a => a.textContent.trim()),"
            "        cites: document.querySelectorAll('article .bibtex-citation a[href*=\"references.html#\"]').length};")
        terms += found["terms"]
        cites += found["cites"]
    assert len(terms) >= 8, f"{chapter}: too few links to the glossary: {terms}"
    assert cites >= 3, f"{chapter}: expected citations linking to the bibliography, found {cites}"


# -- links, downloads and launch buttons (fetched over HTTP, parsed in Python) -------------

class _LinkParser(HTMLParser):
    """The ids of a page and the URLs it refers to: ("link", href) for <a>, ("resource", url)
    for what the browser loads by itself (<img>, <script>, <link>, ...)."""

    RESOURCES = {"img": "src", "script": "src", "link": "href", "source": "src", "iframe": "src",
                 "video": "src", "audio": "src", "embed": "src"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag == "a" and attrs.get("href") is not None:
            self.links.append(("link", attrs["href"]))
        elif tag in self.RESOURCES and attrs.get(self.RESOURCES[tag]):
            self.links.append(("resource", attrs[self.RESOURCES[tag]]))


def _fetch(url: str) -> tuple[int, bytes, str]:
    """(HTTP status, body, content type) of ``url``."""
    try:
        with urllib.request.urlopen(url, timeout=PAGE_TIMEOUT_S) as response:
            return response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as err:
        return err.code, b"", ""


@pytest.fixture(scope="module")
def link_walk(base_url):
    """Start at index.html, the pages of the table of contents and the generated pages;
    follow every link that stays inside the site; fetch every target once.

    Returns the parsed pages (URL -> _LinkParser), every internal reference, the
    references whose target is not served (``broken``) or whose #anchor is not an id
    of the target page (``missing_anchors``), and the resources taken from elsewhere.
    """
    host = urlsplit(base_url).netloc
    pages: dict[str, _LinkParser] = {}
    statuses: dict[str, int] = {}
    references: list[tuple[str, str, str]] = []        # (page, kind, absolute URL)
    external_resources: list[tuple[str, str]] = []
    queue = [base_url + p for p in ["index.html", *PAGES, *GENERATED_PAGES]]
    while queue:
        url = queue.pop()
        if url in statuses:
            continue
        status, body, content_type = _fetch(url)
        statuses[url] = status
        if status != 200 or content_type != "text/html":
            continue
        parser = _LinkParser()
        parser.feed(body.decode("utf8", errors="replace"))
        pages[url] = parser
        for kind, raw in parser.links:
            if raw.startswith(("mailto:", "javascript:", "data:", "tel:")):
                continue
            target = urljoin(url, raw)
            if urlsplit(target).netloc != host:
                if kind == "resource":
                    external_resources.append((url, target))
                continue
            references.append((url, kind, target))
            queue.append(urldefrag(target)[0].split("?")[0])
    broken, missing_anchors = set(), set()
    for page, kind, target in references:
        target_page, fragment = urldefrag(target)
        target_page = target_page.split("?")[0]
        if statuses.get(target_page) != 200:
            broken.add(f"{page} -> {target} (HTTP {statuses.get(target_page)})")
        elif fragment and target_page in pages and unquote(fragment) not in pages[target_page].ids:
            missing_anchors.add(f"{page} -> {target}")
    return {"pages": pages, "references": references, "broken": sorted(broken),
            "missing_anchors": sorted(missing_anchors), "external_resources": external_resources}


def test_link_walk_finds_no_broken_link(link_walk):
    assert len(link_walk["pages"]) >= len(PAGES) + len(GENERATED_PAGES), sorted(link_walk["pages"])
    assert len(link_walk["references"]) > 100, "the walk found suspiciously few links"
    assert not link_walk["broken"], "links to files the site does not serve:\n" + "\n".join(link_walk["broken"])


def test_link_walk_finds_every_anchor(link_walk):
    assert not link_walk["missing_anchors"], \
        "links to anchors that do not exist:\n" + "\n".join(link_walk["missing_anchors"])


def test_no_page_refers_to_a_remote_resource(link_walk):
    """The static counterpart of test_every_resource_is_local, over every page of the site:
    no <script>, <link>, <img>, ... points outside it (launch buttons are <a> links)."""
    remote = [f"{page} -> {url}" for page, url in link_walk["external_resources"]]
    assert not remote, "pages refer to remote resources:\n" + "\n".join(remote)


@pytest.mark.parametrize("page", PAGES)
def test_page_downloads_as_ipynb_and_md(base_url, link_walk, page):
    url = base_url + page
    sources = {}
    for kind, href in link_walk["pages"][url].links:
        target = urljoin(url, href)
        if kind == "link" and "/_sources/" in target:
            sources[Path(urlsplit(target).path).suffix] = target
    assert {".ipynb", ".md"} <= set(sources), f"{page}: the download menu offers {sorted(sources)}"
    status, body, _ = _fetch(sources[".ipynb"])
    assert status == 200, f"{sources['.ipynb']}: HTTP {status}"
    notebook = json.loads(body)
    assert notebook["nbformat"] == 4 and notebook["cells"], f"{page}: the .ipynb download is not a notebook"
    status, body, _ = _fetch(sources[".md"])
    assert status == 200 and body.startswith(b"---\n") and b"\n# " in body, \
        f"{page}: the .md download is not the page's MyST source"


def test_launch_buttons_follow_the_configuration(base_url, link_walk):
    """With ``repository.url`` set, every page has plain links to the configured Binder;
    without it, no page has launch links (and the build did not fail for want of them)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
    repository = (config.get("repository") or {}).get("url") or ""
    binder = ((config.get("launch_buttons") or {}).get("binderhub_url") or "").rstrip("/")
    for page in PAGES:
        links = [href for kind, href in link_walk["pages"][base_url + page].links
                 if kind == "link" and binder and href.startswith(binder + "/v2/")]
        if repository and binder:
            assert links, f"{page}: no Binder link although repository.url is {repository}"
            assert all(re.match(re.escape(binder) + r"/v2/(gh|gl|git)/.+\?urlpath=", href) for href in links), links
        else:
            assert not links, f"{page}: launch links without a repository URL: {links}"


# -- light and dark themes ---------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(KEY_PAGES))
def test_screenshot_key_pages(base_url, browser, name):
    """artifacts/intro.png, ch1_backprop.png, ch2_conv.png, glossary.png, and *_full.png."""
    open_page(browser, base_url, KEY_PAGES[name])
    top, full = save_screenshots(browser, name)
    assert top.stat().st_size > 10_000 and full.stat().st_size > top.stat().st_size


_LEGIBILITY_JS = r"""
const done = arguments[arguments.length - 1];
const luminance = colour => {
    const m = (colour.match(/[\d.]+/g) || ['0', '0', '0', '0']).map(Number);
    const lin = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return {lum: 0.2126 * lin(m[0]) + 0.7152 * lin(m[1]) + 0.0722 * lin(m[2]), alpha: m.length > 3 ? m[3] : 1};
};
const behind = e => {               // luminance of the first opaque background at or behind e
    for (; e; e = e.parentElement) {
        const c = luminance(getComputedStyle(e).backgroundColor);
        if (c.alpha > 0.5) return c.lum;
    }
    return 1;
};
const transparentShare = img => {   // share of (nearly) transparent pixels, on a 64 x 64 sample
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 64;
    const context = canvas.getContext('2d');
    context.drawImage(img, 0, 0, 64, 64);
    const data = context.getImageData(0, 0, 64, 64).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] < 128) n++;
    return n / (64 * 64);
};
const images = Array.from(document.querySelectorAll('article img'));
Promise.all(images.map(img => img.decode().catch(() => null))).then(() => done({
    theme: document.documentElement.dataset.theme,
    page: behind(document.querySelector('article')),
    images: images.map(img => ({src: (img.currentSrc || img.src).slice(0, 80),
                                transparent: transparentShare(img), behind: behind(img)})),
}));
"""


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_dark_theme_keeps_figures_legible(base_url, browser, chapter):
    """Figures are drawn in dark ink on white or on a transparent background; in the dark
    theme every one must still sit on a light background, on every page of the chapter.
    Saves artifacts/<chapter>_dark.png (the index page) and <chapter>_<section>_dark.png."""
    open_page(browser, base_url, chapter)
    browser.execute_script("localStorage.setItem('mode', 'dark'); localStorage.setItem('theme', 'dark');")
    try:
        images = 0
        for page in CHAPTER_PAGES[chapter]:
            open_page(browser, base_url, page)
            found = browser.execute_async_script(_LEGIBILITY_JS)
            assert found["theme"] == "dark", f"{page}: the dark theme did not apply ({found['theme']})"
            assert found["page"] < 0.1, f"{page}: the page background is not dark ({found['page']:.2f})"
            unreadable = [i for i in found["images"] if i["transparent"] > 0.01 and i["behind"] < 0.5]
            assert not unreadable, f"{page}: transparent figures on a dark background: {unreadable}"
            images += len(found["images"])
            name = Path(page).with_suffix("").parts[1:]
            save_screenshots(browser, "_".join(name[:-1] if name[-1] == "index" else name) + "_dark")
        assert images >= 5, f"{chapter}: expected the chapter's figures, found {images} images on its pages"
    finally:
        browser.execute_script("localStorage.setItem('mode', 'light'); localStorage.setItem('theme', 'light');")


# -- accessibility ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        pytest.fail(f"{AXE} not found: run `npm ci --no-audit --no-fund` at the repository root "
                    f"(package-lock.json pins axe-core)")
    return AXE.read_text(encoding="utf8")


_AXE_RUN_JS = r"""
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(result => done({
    version: axe.version,
    violations: result.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
        targets: v.nodes.slice(0, 5).map(n => n.target.join(' '))})),
}), error => done({error: String(error)}));
"""


@pytest.mark.parametrize("page", PAGES)
def test_accessibility_no_critical_violations(base_url, browser, axe_source, page):
    """axe-core injected into the loaded page; all its findings go to artifacts/axe/<page>.json."""
    open_page(browser, base_url, page)
    browser.execute_script(axe_source)
    browser.set_script_timeout(AXE_TIMEOUT_S)
    try:
        report = browser.execute_async_script(_AXE_RUN_JS)
    finally:
        browser.set_script_timeout(PAGE_TIMEOUT_S)
    assert "error" not in report, f"{page}: axe failed: {report.get('error')}"
    (ARTIFACTS / "axe").mkdir(parents=True, exist_ok=True)
    name = page.removesuffix(".html").replace("/", "_")
    (ARTIFACTS / "axe" / f"{name}.json").write_text(json.dumps(report, indent=1, ensure_ascii=False),
                                                    encoding="utf8")
    critical = [v for v in report["violations"] if v["impact"] == "critical"]
    assert not critical, f"{page}: critical accessibility violations:\n" + json.dumps(critical, indent=1)
