"""Audio in and out: decoding an upload with bounded work (``decoding``); reference clips,
resampling, cutting, cross-fades and WAV files (``waveforms``).
"""
