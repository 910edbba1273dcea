"""What a cue says out loud: its text without markup, drawings, entities or invisible characters.

pysubs2 hands every format over in SubStation form: ASS/SSA as written, SRT and WebVTT
with ``<i>``/``<b>``/``<u>``/``<s>`` turned into override blocks (``{\\i1}``) and other
HTML-like tags removed. Here:

- an ASS vector drawing (the commands after ``{\\p1}``, up to ``{\\p0}`` or the end of the
  line: karaoke boxes, signs) is dropped, since it is a shape, not words;
- every override block ``{...}`` goes, and ``\\N``, ``\\n`` and ``\\h`` become spaces;
- tags pysubs2 leaves (WebVTT's ``<00:00:01.000>`` timestamps) go;
- in WebVTT, character references (``&amp;``, ``&lrm;``, ``&#233;``) are decoded once the
  tags are gone, so ``&lt;i&gt;`` stays words; the direction marks and other invisible
  characters they give are dropped later by ``engines.text.clean_text``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

# An override block; one "{" left open ends at the next "{" (so a run of them is read in linear time).
_OVERRIDE = re.compile(r"\{[^{}]*\}")
# \p<scale> turns drawing mode on (scale > 0) or off (0). \pos and \pbo are other tags: a digit must follow.
_DRAWING_SCALE = re.compile(r"\\p(-?\d+)")
_TAG = re.compile(r"<[^>]{0,80}>")


@dataclass(frozen=True)
class CueText:
    text: str               # the words, markup gone (speaker prefixes and whitespace are handled later)
    had_drawing: bool       # a drawing was dropped (the reason a cue with no words left is skipped)


def substation_plain_text(text: str) -> CueText:
    """SubStation text without drawings and override blocks; line breaks and hard spaces as spaces."""
    kept: list[str] = []
    drawing = had_drawing = False
    position = 0
    for block in (*_OVERRIDE.finditer(text), None):
        chunk = text[position:block.start() if block else len(text)]
        if not drawing:
            kept.append(chunk)
        elif chunk.strip():
            had_drawing = True
        if block is not None:
            scales = _DRAWING_SCALE.findall(block.group())
            drawing = int(scales[-1]) > 0 if scales else drawing
            position = block.end()
    plain = "".join(kept).replace("\\N", " ").replace("\\n", " ").replace("\\h", " ")
    return CueText(plain, had_drawing)


def spoken_markup_free(text: str, fmt: str) -> CueText:
    """The cue's words for a format: ``srt``, ``vtt``, ``ass``/``ssa`` (as pysubs2 gives them) or ``script``."""
    if fmt == "script":
        return CueText(_TAG.sub(" ", text), False)
    cue = substation_plain_text(text)
    words = _TAG.sub(" ", cue.text)
    if fmt == "vtt":
        words = html.unescape(words)
    return CueText(words, cue.had_drawing)
