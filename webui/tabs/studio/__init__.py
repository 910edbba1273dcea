"""The Studio tab (``tab.build_studio_tab``): see ``tab`` for what it does and which module does what."""

from .tab import build_studio_tab

__all__ = ["build_studio_tab"]
