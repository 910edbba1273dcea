"""Text checks and splitting long text into chunks an engine can take."""

from __future__ import annotations

import re
import unicodedata

from ..errors import InputError

DEFAULT_MAX_TEXT_CHARS = 5000
# A transcript says what the clip says: fast speech is about 20 characters a second, so
# twice that, plus slack for short clips, covers any honest transcript.
REFERENCE_CHARS_PER_SECOND = 40
REFERENCE_TEXT_SLACK_CHARS = 200
MAX_REFERENCE_TEXT_CHARS = 25_000  # the longest clip read (10 minutes) at that rate, and then some

# Sentence ends: ., !, ?, ellipsis, CJK full stops, followed by space or end.
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？;；])\s+")
_CLAUSE_END = re.compile(r"(?<=[,，、:：—])\s+")


def clean_text(text: str) -> str:
    """Drop control and zero-width characters, normalise Unicode and whitespace."""
    text = unicodedata.normalize("NFC", join_surrogate_pairs(text or ""))
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in "\n\t":
            kept.append(" ")
        elif category in ("Cc", "Cf"):  # control, format (zero-width joiners, bidi marks, BOM)
            continue
        else:
            kept.append(ch)
    return re.sub(r"\s+", " ", "".join(kept)).strip()


def join_surrogate_pairs(text: str) -> str:
    """A character sent as a UTF-16 surrogate pair (two code points) becomes the one character."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def lone_surrogate_at(text: str) -> int | None:
    """Where ``text`` holds half of a UTF-16 surrogate pair (a broken emoji, say), or None.

    Such a string cannot be written as UTF-8; it comes from a client that cut a character
    in two. Whole pairs that arrive as two code points are joined first.
    """
    joined = join_surrogate_pairs(text)
    return next((i for i, ch in enumerate(joined) if "\ud800" <= ch <= "\udfff"), None)


def has_speakable_content(text: str) -> bool:
    """True when the text holds at least one letter or digit (emoji and symbols alone are not speech)."""
    return any(unicodedata.category(ch)[0] in ("L", "N") for ch in text)


def validate_text(text: str, max_chars: int = DEFAULT_MAX_TEXT_CHARS) -> str:
    """Return the cleaned text or raise ``InputError`` with a specific message."""
    if text is None or not str(text).strip():
        raise InputError("text is empty: type something to speak")
    if len(text) > max_chars:
        raise InputError(f"text is {len(text):,} characters; the limit is {max_chars:,} characters")
    _refuse_broken_characters(str(text), "text")
    cleaned = clean_text(str(text))
    if not cleaned:
        raise InputError("text holds only control or invisible characters: nothing to speak")
    if not has_speakable_content(cleaned):
        raise InputError("text holds no letters or digits (only symbols or emoji): nothing to speak")
    return cleaned


def validate_reference_text(text: str | None, clip_seconds: float) -> str | None:
    """Check a reference clip's transcript against the clip's length; raise ``InputError`` when it
    cannot be this clip's transcript. Returns it as given (None or blank: no transcript)."""
    if text is None or not str(text).strip():
        return text
    text = str(text)
    _refuse_broken_characters(text, "reference transcript")
    allowed = min(MAX_REFERENCE_TEXT_CHARS,
                  int(max(clip_seconds, 0.0) * REFERENCE_CHARS_PER_SECOND) + REFERENCE_TEXT_SLACK_CHARS)
    if len(text) > allowed:
        raise InputError(f"reference transcript is {len(text):,} characters, too long for a {clip_seconds:.1f} s "
                         f"clip (at most {allowed:,}: about {REFERENCE_CHARS_PER_SECOND} a second): "
                         "give only the words spoken in the clip")
    return text


def _refuse_broken_characters(text: str, what: str) -> None:
    position = lone_surrogate_at(text)
    if position is not None:
        raise InputError(f"{what} holds a broken character at position {position + 1} (half of an emoji or "
                         "other character cut in two): paste the text again")


def _split_long_piece(piece: str, max_chars: int) -> list[str]:
    """Split one over-long sentence at clause marks, then at spaces, then hard."""
    parts: list[str] = []
    for clause in _CLAUSE_END.split(piece):
        if len(clause) <= max_chars:
            parts.append(clause)
            continue
        words, current = clause.split(" "), ""
        for word in words:
            while len(word) > max_chars:  # no spaces (e.g. CJK): cut hard
                if current:
                    parts.append(current)
                    current = ""
                parts.append(word[:max_chars])
                word = word[max_chars:]
            candidate = f"{current} {word}".strip()
            if len(candidate) > max_chars:
                parts.append(current)
                current = word
            else:
                current = candidate
        if current:
            parts.append(current)
    return parts


def split_text(text: str, max_chars: int) -> list[str]:
    """Split at sentence boundaries into chunks of at most ``max_chars`` characters.

    Sentences are packed greedily; a sentence longer than the budget is split at
    clause marks, then at word boundaries.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    chunks: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text.strip()):
        if not sentence:
            continue
        if len(sentence) > max_chars:
            # An over-long sentence starts its own chunks, so no chunk ends mid-sentence needlessly.
            if current:
                chunks.append(current)
                current = ""
            parts = _split_long_piece(sentence, max_chars)
        else:
            parts = [sentence]
        for part in parts:
            candidate = f"{current} {part}".strip()
            if current and len(candidate) > max_chars:
                chunks.append(current)
                current = part
            else:
                current = candidate
    if current:
        chunks.append(current)
    return chunks
