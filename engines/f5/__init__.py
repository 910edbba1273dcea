"""F5-TTS: the engine adapter (``engine``), its reference-clip preparation (``f5_reference``)
and its GPU fast path (``accel``).
"""
