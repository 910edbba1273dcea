"""Saved voices: clone a voice once, then use it by id everywhere, on both engines.

``store.VoiceLibrary`` keeps each voice as a folder (``voice.json``, a normalised
``reference.wav``, per-model engine caches); ``cache.FolderVoiceCache`` is the
``VoiceCache`` the engines fill; ``archive`` writes a voice as one ``.voice.zip`` and
reads a stranger's safely; ``records`` holds the pure rules (ids, ``voice.json``).
"""

from .archive import ARCHIVE_SUFFIX, MAX_ARCHIVE_BYTES, MAX_MEMBERS, read_voice_archive
from .cache import FolderVoiceCache
from .records import RECORD_FORMAT, VoiceRecord, check_voice_id, slugify
from .store import DEFAULT_VOICES_DIR, ENV_VOICES_DIR, VoiceLibrary, VoiceLibraryError

__all__ = [
    "ARCHIVE_SUFFIX", "MAX_ARCHIVE_BYTES", "MAX_MEMBERS", "read_voice_archive", "FolderVoiceCache",
    "RECORD_FORMAT", "VoiceRecord", "check_voice_id", "slugify", "DEFAULT_VOICES_DIR", "ENV_VOICES_DIR",
    "VoiceLibrary", "VoiceLibraryError",
]
