"""Dubbing a 10-minute two-speaker video end to end (``python -m bench.video``): full-size random models
of every stage (``models``), the video made in code (``source``), an ``ffprobe`` stand-in.
"""
