"""The Engine status tab (``tab``): each engine's card, Load/Unload for admins, the F5-TTS model
picker (``model_picker``), the optional parts and what to set for them (``optional_parts``), the
devices and replicas (``devices``), and speech quality's Verify (``verify_panel``)."""

from .tab import build_status_tab

__all__ = ["build_status_tab"]
