"""Dubbing a video end to end: speech found, transcribed, translated and spoken again in each
speaker's own cloned voice, the background kept.

    from dubbing.video import VideoDubber, VideoDubOptions
    dubber = VideoDubber(Studio.from_env(manager))
    result = dubber.dub("in.mp4", VideoDubOptions(language="pt-BR", speakers=2))
    result.files["video"], result.files["track"], result.report

One module per stage in ``steps`` (``extract``, ``speech``, ``separate``, ``transcribe``,
``speakers``, ``translate``, ``cast``, ``mix``; ``cues`` for the pure cue cutting,
``demucs_files`` for reading Demucs weights safely), ``state`` for what is saved after each
stage, ``stages`` for the glue, ``pipeline`` for the order and resuming, ``outputs`` for the
files and report, ``api`` and ``cli`` for the fronts. The result is an ordinary Studio
project, so every line stays editable and re-renders alone.
"""

from .options import VideoDubOptions, check_options
from .pipeline import StageEvent, VideoDubber, VideoDubResult
from .state import STAGES, JobState

__all__ = ["VideoDubOptions", "check_options", "StageEvent", "VideoDubber", "VideoDubResult", "STAGES", "JobState"]
