"""Presentation helpers for the book only (plots, diagrams, tables); the library never imports them."""
