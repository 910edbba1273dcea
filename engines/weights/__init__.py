"""Where model weights come from: local paths and ``hf://`` sources (``sources``), downloads
with progress (``downloads``), F5-TTS checkpoints read and normalised in memory
(``checkpoints``).
"""
