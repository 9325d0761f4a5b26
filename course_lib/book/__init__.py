"""Presentation helpers for the textbook only: plots, tables and chapter demos.

The library never imports this package; the book's pages do.  One module per
chapter or topic, e.g. :mod:`course_lib.book.text` for Chapter 5.
"""
