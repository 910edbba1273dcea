"""XTTS-v2 on a GPU: continuous batching through the manager (``batch``), upstream and the accelerator
row by row (``rows``), seeds that repeat (``repeat``).
"""
