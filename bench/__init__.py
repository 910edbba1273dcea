"""Side-by-side GPU benchmark of upstream inference vs ``engines.accel``."""
