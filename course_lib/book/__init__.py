"""Presentation helpers for the book only: plots, animations, widgets, tables and chapter demos.

The library never imports this package; book pages do.  Modules:

* :mod:`course_lib.book.insight`: Chapter 6's figures (filters, feature maps, Hinton diagrams,
  occlusion and saliency maps, a Go board's move probabilities, boxes on an image).
"""
