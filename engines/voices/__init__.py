"""Voices by name: the built-in presets (``presets``), the catalog that resolves a name to a
voice (``catalog``), and the saved voices (``library``).
"""
