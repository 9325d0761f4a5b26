"""Numbers in the book's captions and alt text are the numbers the pages computed.

A figure's caption and alt text are written once, in the page's MyST source, while the
figure is recomputed at every build; a number typed into them goes stale the day the
computation changes.  So:

* in the source of the chapters listed in ``STRICT``, every number of a caption or alt
  text is either inserted by a
  ``{glue:text}`` role (a value the page computed and recorded) or is a setting that
  appears as a literal in the page's code (a window of 3, a depth of 40): a result
  typed by hand (``below 0.2``, ``about 1e-24``) fails;
* alt text cannot hold a role, so it may quote settings only: a computed value belongs
  in the caption, glued, and the alt text describes the picture in words;
* in the built HTML, each glued value appears in its figure's caption exactly as the
  executed notebook recorded it (read from ``_build/jupyter_execute``, where myst-nb
  writes the executed notebooks and their glued values), formatted as the role asks.

Run after ``jupyter-book build . --builder html`` (``make book``); ``BOOK_HTML_DIR``
points at a book built elsewhere, with its ``jupyter_execute`` folder beside it.
"""
from __future__ import annotations

import ast
import html
import io
import os
import re
import tokenize
from pathlib import Path

import pytest

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("BOOK_HTML_DIR") or ROOT / "_build" / "html")
EXECUTED = SITE.parent / "jupyter_execute"


def _chapter_pages() -> dict[str, list[Path]]:
    """Chapter folder -> its pages in the table of contents: index.md, then its sections."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))
    found: dict[str, list[Path]] = {}

    def walk(entries):
        for entry in entries or []:
            page = Path(entry["file"] + ".md") if "file" in entry else None
            if page and page.parts[0] == "book" and re.match(r"ch\d+_", page.parts[1]):
                found.setdefault(page.parts[1], []).append(page)
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return found


#: chapter folder -> its pages (a chapter split into sections has one page per section)
CHAPTER_PAGES = _chapter_pages()
CHAPTERS = sorted(CHAPTER_PAGES)
PAGES = [page for chapter in CHAPTERS for page in CHAPTER_PAGES[chapter]]
#: chapters held to the source rule (every number of a caption or alt text glued or a
#: setting); a chapter joins by being listed here once its captions conform
CHAPTER_DIRS = {"ch1_backprop", "ch2_conv", "ch3_layers", "ch4_networks", "ch5_text", "ch6_applications"}
STRICT = [page for page in PAGES if page.parts[1] in CHAPTER_DIRS]

GLUE_ROLE = re.compile(r"\{glue:text\}`([^`:]+)(?::([^`]*))?`")
OTHER_ROLES = re.compile(r"\{(?:eq|ref|numref|cite:p|cite:t|cite|term|doc)\}`[^`]*`")
NUMBER = re.compile(r"(?<![\w.])(\d(?:[\d,]*\d)?(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w])")


def _figure_texts(page: Path) -> list[dict]:
    """Each code cell's figure caption and image alt text, with the cell's line and name."""
    import jupytext
    import yaml

    found = []
    notebook = jupytext.read(ROOT / page)
    for cell in notebook.cells:
        options = cell.metadata.get("mystnb") if cell.cell_type == "code" else None
        if not options:
            continue
        if isinstance(options, str):
            options = yaml.safe_load(options)
        found.append({"name": (options.get("figure") or {}).get("name", "?"),
                      "caption": (options.get("figure") or {}).get("caption", "") or "",
                      "alt": (options.get("image") or {}).get("alt", "") or ""})
    return found


def _code_literals(page: Path) -> set[str]:
    """Every numeric literal of the page's code cells, normalised (1_000 -> 1000, 2.0 -> 2)."""
    import jupytext

    literals = set()
    for cell in jupytext.read(ROOT / page).cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.startswith(("%", "!")))
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        except (tokenize.TokenError, IndentationError):
            continue
        for token in tokens:
            if token.type == tokenize.NUMBER:
                literals.add(_normalise(token.string))
            elif token.type == tokenize.STRING:             # settings written in labels: "3x3", "gain 4"
                literals.update(_normalise(n) for n in NUMBER.findall(token.string))
    return literals


def _normalise(number: str) -> str:
    text = number.replace(",", "").replace("_", "")
    try:
        value = float(text)
    except ValueError:
        return text
    return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _numbers_outside_roles(text: str) -> list[str]:
    text = OTHER_ROLES.sub(" ", GLUE_ROLE.sub(" ", text))
    return NUMBER.findall(text)


@pytest.mark.parametrize("page", STRICT, ids=str)
def test_caption_and_alt_numbers_are_glued_or_settings(page):
    literals = _code_literals(page)
    typed = []
    for figure in _figure_texts(page):
        for kind in ("caption", "alt"):
            for number in _numbers_outside_roles(figure[kind]):
                if _normalise(number) not in literals:
                    typed.append(f"{figure['name']} {kind}: {number}")
    assert not typed, (f"{page}: numbers in captions/alt text that are neither glued "
                       f"({{glue:text}}) nor settings in the page's code:\n" + "\n".join(typed))


def test_the_rules_catch_typed_results():
    assert _numbers_outside_roles("falls to {glue:text}`x:.1e` at layer {eq}`eq-3`, then 0.254") == ["0.254"]
    assert _numbers_outside_roles("about 1e-24, a {term}`3x3 <kernel>` window") == ["1e-24"]
    assert _normalise("1,200") == "1200" and _normalise("2.0") == "2" and _normalise("0.05") == "0.05"


def _glue_values(page: Path) -> dict[str, str]:
    """name -> text/plain of every value the executed notebook of ``page`` glued.

    myst-nb moves the glue outputs of an executed notebook into ``<page>.glue.json``
    beside it; a notebook executed elsewhere (nbconvert) still holds them as outputs
    with a papermill record, which are read as well."""
    import json

    import nbformat

    executed = EXECUTED / page.with_suffix(".ipynb")
    glue_file = EXECUTED / page.with_suffix(".glue.json")
    if not executed.exists():
        pytest.fail(f"{executed} is missing: build the book first (make book)")
    values = {}
    if glue_file.exists():
        for name, output in json.loads(glue_file.read_text(encoding="utf8")).items():
            values[name] = output["data"]["text/plain"]
    for cell in nbformat.read(executed, as_version=4).cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook")
            if record and "application/papermill.record/text/plain" in output.get("data", {}):
                values[record["name"]] = output["data"]["application/papermill.record/text/plain"]
    return values


def _as_shown(text_plain: str, spec: str | None) -> str:
    """What ``{glue:text}`name:spec``` shows for a value recorded as ``text_plain``."""
    try:
        value = ast.literal_eval(text_plain)
    except (ValueError, SyntaxError):
        return text_plain
    if spec:
        return format(value, spec)
    return value if isinstance(value, str) else text_plain


def _captions(page_html: str) -> dict[str, str]:
    """figure id -> the visible text of its caption."""
    captions = {}
    for match in re.finditer(r'<figure[^>]*\bid="([^"]+)"(.*?)</figure>', page_html, re.S):
        caption = re.search(r"<figcaption>(.*?)</figcaption>", match.group(2), re.S)
        if caption:
            text = re.sub(r"<[^>]+>", "", caption.group(1))
            captions[match.group(1)] = " ".join(html.unescape(text).split())
    return captions


def _check_built_captions(page: Path) -> int:
    """Compare the glued values in the built captions of ``page`` with the recorded ones;
    return how many were compared.  A glue name is looked up on the page itself: glue
    values are page-local in Jupyter Book 1."""
    built = SITE / page.with_suffix(".html")
    if not built.exists():
        pytest.fail(f"{built} is missing: build the book first (make book)")
    figures = [f for f in _figure_texts(page) if GLUE_ROLE.search(f["caption"])]
    if not figures:
        return 0
    values = _glue_values(page)
    captions = _captions(built.read_text(encoding="utf8"))
    checked, wrong = 0, []
    for figure in figures:
        for name, spec in GLUE_ROLE.findall(figure["caption"]):
            assert name in values, f"{page}: caption of {figure['name']} glues {name!r}, never recorded"
            expected = _as_shown(values[name], spec or None)
            shown = captions.get(figure["name"].lower().replace("_", "-"), "")
            checked += 1
            if expected not in shown:
                wrong.append(f"{figure['name']}: {name} should show {expected!r}; caption: {shown!r}")
    assert not wrong, f"{page}:\n" + "\n".join(wrong)
    return checked


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_built_captions_show_the_glued_values(chapter):
    """Every page of the chapter (its index and its sections); at least one caption of
    the chapter quotes a computed value."""
    checked = sum(_check_built_captions(page) for page in CHAPTER_PAGES[chapter])
    if chapter in CHAPTER_DIRS:
        assert checked, f"{chapter}: no caption of this chapter quotes a computed value"


def test_the_chapters_and_their_sections_are_found():
    assert {"ch2_conv", "ch3_layers"} <= set(CHAPTERS)
    for chapter in ("ch2_conv", "ch3_layers"):
        pages = CHAPTER_PAGES[chapter]
        assert pages[0] == Path("book", chapter, "index.md") and len(pages) > 5, pages
        assert all((ROOT / page).is_file() for page in pages), pages


@pytest.mark.parametrize("page, name, low, high", [
    ("book/ch3_layers/02_activations.md", "train_relu_loss", 0.0, 2.3),       # trained below a uniform guess
    ("book/ch3_layers/02_activations.md", "depth_sigmoid_input", 0.0, 1e-10),  # the gradient has vanished
    ("book/ch3_layers/05_normalization.md", "bn_plain_final_loss", 2.0, 2.5),  # the plain sigmoid net: no learning
    ("book/ch1_backprop/index.md", "vg_sigmoid_input", 0.0, 1e-6),
])
def test_spot_checks_of_quoted_values(page, name, low, high):
    value = float(ast.literal_eval(_glue_values(Path(page))[name]))
    assert low < value < high, f"{page}: {name} = {value}"
