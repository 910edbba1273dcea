"""Tools for developing Voice Studio without real weights: tiny random models in the real
formats (``tiny_models``, ``tiny_speech``, ``tiny_pipeline_models``), ``python app.py`` run as a
subprocess (``app_process``) and headless Chromium (``browser``). The tests, the benchmarks and
the screenshots use them."""
