"""Sphinx extension of the book: small repairs to the generated HTML for screen readers.

Registered in ``_config.yml`` (``sphinx.local_extensions``).  Each repair is checked by
the axe-core pass of ``tests/test_book_html.py``.

* Bibliography entries: docutils (0.21) writes every citation as
  ``<div class="citation" role="doc-biblioentry">`` inside ``<div role="list">``.
  ARIA 1.2 deprecated ``doc-biblioentry``, so assistive technology no longer counts the
  entries as items of that list (axe: "aria-required-children", critical).  The entries
  get ``role="listitem"`` instead.
"""
from __future__ import annotations

import re

_BIBLIOENTRY = re.compile(r'(<div class="citation"[^>]*?) role="doc-biblioentry"')


def _repair_page(app, pagename, templatename, context, doctree) -> None:
    body = context.get("body")
    if body and "doc-biblioentry" in body:
        context["body"] = _BIBLIOENTRY.sub(r'\1 role="listitem"', body)


def setup(app):
    app.connect("html-page-context", _repair_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
