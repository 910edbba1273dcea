"""Side-by-side GPU benchmark of upstream inference vs the accelerators (``engines.f5.accel``, ``engines.xtts.accel``)."""
