"""The repository's own text: code and docs say what things do, and point only at files that ship."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_DIRS = {".venv", ".git", "node_modules", "outputs", "__pycache__"}
# A tracker number ("issue" and a number) says nothing to a reader of the code.
ISSUE_NUMBER = re.compile(r"\bissues? #?\d+", re.IGNORECASE)


def _repo_files(*suffixes: str) -> list[Path]:
    return [path for path in ROOT.rglob("*") if path.suffix in suffixes and path.is_file()
            and not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts)]


def test_no_tracker_issue_numbers_in_code_or_docs():
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in _repo_files(".py", ".md", ".txt", ".sh")
             for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
             if ISSUE_NUMBER.search(line)]
    assert not found, "say what the code does instead of naming an issue:\n" + "\n".join(found)


def test_requirements_point_only_at_files_in_the_repository():
    for name in ("requirements.txt", "requirements-dev.txt"):
        text = (ROOT / name).read_text(encoding="utf-8")
        for mentioned in re.findall(r"[\w./-]+\.md\b", text):
            assert (ROOT / mentioned).is_file(), f"{name} points at {mentioned}, which is not in the repository"
