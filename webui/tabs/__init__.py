"""The Gradio tabs, one module per tab, and the pieces they share (controls, choices, the error panel, live playback)."""
