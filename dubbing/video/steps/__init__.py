"""The work of each stage of a video dub, one module each: ``extract`` (the audio and what the
file is), ``speech`` (where someone speaks), ``separate`` (the voice apart from the background,
with ``demucs_files`` to read Demucs weights safely), ``transcribe`` (with ``cues`` for cutting
the words into cues), ``speakers`` (who speaks when), ``translate``, ``cast`` (a voice for each
speaker) and ``mix``. ``stages.py`` runs them in order; the pipeline saves what each one leaves.
"""
