"""Checking what the engines make: the sanity guard (``guard``), speech recognition (``asr``),
speaker similarity (``speaker``), verifying an engine (``verify``), best of N takes
(``best_of``), and how their helper models load (``pretrained``).
"""
