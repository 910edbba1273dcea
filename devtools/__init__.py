"""Tools for developing Voice Studio without real weights: tiny random models in the real
formats (``tiny_models``) and ``python app.py`` run as a subprocess (``app_process``).
The tests and the benchmarks both use them."""
