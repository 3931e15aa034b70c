"""Helping people label: which images to label next, which labels to check."""
