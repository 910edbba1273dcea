"""What every benchmark builds on: full-size random models of the real architectures (``models``),
inputs made in code (``inputs``), CUDA-synchronised timing (``timing``).
"""
