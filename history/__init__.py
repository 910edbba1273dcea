"""Output history: every result (and every failure) kept on disk, nothing lost or mixed up.

    from history import OutputHistory
    history = OutputHistory.from_env()          # VOICE_STUDIO_OUTPUT_DIR, default ./outputs
    entry = history.save_result(request, result)
    for entry in history.list(limit=20): ...    # newest first, survives a restart
    entries, total = history.page(limit=20, offset=20)   # the next page, and how many there are
    history.delete(entry.id); history.clear()
"""

from .store import (
    ENV_MAX_ENTRIES,
    ENV_MAX_MB,
    ENV_OUTPUT_DIR,
    HistoryEntry,
    HistoryError,
    OutputHistory,
)

__all__ = ["ENV_MAX_ENTRIES", "ENV_MAX_MB", "ENV_OUTPUT_DIR", "HistoryEntry", "HistoryError", "OutputHistory"]
