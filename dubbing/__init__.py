"""Dubbing Studio: subtitles in, a timed multi-speaker voice track (and an MP4) out, line by line.

    from dubbing import DubOptions, Studio
    studio = Studio.from_env(manager)              # projects under $VOICE_STUDIO_OUTPUT_DIR/projects/
    project, exported, summary = studio.dub(srt_bytes, DubOptions(language="pt-BR", voice="female_generic"))

``subtitles`` reads and writes the formats, ``fitting`` is the ladder that fits a line into
its slot, ``track`` places lines sample-accurately, ``media`` is ffmpeg, ``project`` the
saved projects, ``render`` the orchestration over the engine manager, ``export`` and
``report`` the outputs, ``service`` the one front the CLI, the API and the UI call.
No UI here.
"""

from .fitting import DEFAULT_LIMITS, FitLimits, FitPlan, plan_fit
from .project import Project, ProjectStore
from .render import Renderer, RenderSummary
from .service import DubOptions, Studio, parse_speaker_voices
from .subtitles import Cue, ParsedSubtitles, parse_subtitles, write_subtitles

__all__ = ["DEFAULT_LIMITS", "FitLimits", "FitPlan", "plan_fit", "Project", "ProjectStore", "Renderer",
           "RenderSummary", "DubOptions", "Studio", "parse_speaker_voices", "Cue", "ParsedSubtitles",
           "parse_subtitles", "write_subtitles"]
