"""XTTS-v2: the engine adapter (``engine``), its text preparation (``xtts_text``) and its GPU
fast path (``accel``).
"""
