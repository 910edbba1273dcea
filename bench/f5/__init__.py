"""F5-TTS on a GPU: speed against upstream (``speed``), one step profiled (``profile``), the tables for
RESULTS.md (``report``), seeds that repeat (``repeat``), graph captures that fail cleanly
(``capture_checks``), upstream and the accelerator row by row (``rows``), attention kernels (``attn_probe``).
"""
