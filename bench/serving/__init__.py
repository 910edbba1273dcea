"""The app's serving path on a GPU: load under many users (``stress``, with its ``traffic``), time to the
first audio byte over ``/v1`` (``ttfb``), cold starts (``cold_start``, ``cold_probe``) and the manager
with full-size weights (``engine_path``).
"""
