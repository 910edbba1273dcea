"""Handing a saved file to Gradio without opening its folder to the web.

Gradio serves files from its own cache (and from ``allowed_paths``). The output folder
is not among them: a folder there would serve every file in it to anyone who can
guess a name, sidecars included. A handler that shows a saved result instead puts a
copy into Gradio's cache, named by a hash of its bytes (Gradio's own
``save_file_to_cache``), and returns that path. The cache is swept after
``VOICE_STUDIO_CACHE_TTL_S``; the History tab makes the copy again when it shows the
entry.
"""

from __future__ import annotations

from pathlib import Path

from gradio.processing_utils import save_file_to_cache
from gradio.utils import get_upload_folder


def cache_copy(path: str | Path) -> str:
    """A copy of ``path`` in Gradio's cache (made once per content), keeping the file name."""
    return save_file_to_cache(Path(path), cache_dir=get_upload_folder())
