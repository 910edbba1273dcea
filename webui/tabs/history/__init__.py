"""The History tab (``tab``): a compact, searchable list of what was made, and "Use again"
(``reuse``), which puts an entry's settings back into the Dubbing or Cloning form."""

from .tab import build_history_tab

__all__ = ["build_history_tab"]
