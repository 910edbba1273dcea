"""A replica that dies with a job in its hands, when a test asks it to (fault injection).

The test arms a death by writing ``<engine>.die.<n>`` files into ``$VOICE_STUDIO_TEST_FAULTS``
(a folder every replica sees). A replica that has just rendered a job claims one file (an
atomic rename: exactly one replica wins each), leaves what it rendered and who it was beside
it, and exits at once: the job was done, but its result never leaves the replica.

The replica that renders the same job again (the retry: the text and seed of a death) leaves
what it rendered too, before the app's sanity guard sees it: the test compares the two renders
themselves, whatever the app then served.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from engines.remote import EngineReplica

ENV = "VOICE_STUDIO_TEST_FAULTS"


def arm(folder: Path, engine: str, deaths: int = 1) -> None:
    """Arm ``deaths`` deaths of ``engine``'s replicas (what earlier deaths left is cleared first)."""
    for old in folder.glob(f"{engine}.*"):
        old.unlink()
    for n in range(deaths):
        (folder / f"{engine}.die.{n}").write_text("armed", encoding="utf-8")


def deaths(folder: Path, engine: str) -> list[dict]:
    """What each replica that died left behind: its id, the job's text and seed, and the audio it never delivered."""
    return _records(folder, f"{engine}.died.*.json")


def retries(folder: Path, engine: str) -> list[dict]:
    """What each replica that rendered a dead replica's job again made of it: its id, the text, the seed, the audio."""
    return _records(folder, f"{engine}.retried.*.json")


def _records(folder: Path, pattern: str, audio: bool = True) -> list[dict]:
    found = []
    for record in sorted(folder.glob(pattern)):
        entry = json.loads(record.read_text(encoding="utf-8"))
        if audio:
            entry["audio"] = np.load(record.with_suffix(".npy"))
        found.append(entry)
    return found


def _leave(folder: Path, stem: str, replica: str, job, audio) -> None:
    """The audio first, its JSON last: a reader that finds the JSON finds the audio beside it."""
    np.save(folder / f"{stem}.npy", audio)
    (folder / f"{stem}.json").write_text(json.dumps({"replica": replica, "text": job.text, "seed": job.seed}),
                                         encoding="utf-8")


class DyingReplica(EngineReplica):
    """``EngineReplica``, except that it dies after rendering when a death is armed for its engine,
    and says what it rendered when the job is one a dead replica held."""

    def render(self, job):
        output = super().render(job)
        folder = Path(os.environ[ENV])
        replica = self.identity["replica"]
        me = replica.replace("#", "-")
        died = _records(folder, f"{self.name}.died.*.json", audio=False)  # who died with what; no audio read
        if any((d["text"], d["seed"]) == (job.text, job.seed) for d in died):
            _leave(folder, f"{self.name}.retried.{me}", replica, job, output.audio)
        for armed in sorted(folder.glob(f"{self.name}.die.*")):
            try:
                os.rename(armed, folder / f"{self.name}.died.{me}.claim")
            except FileNotFoundError:  # another replica claimed it first
                continue
            _leave(folder, f"{self.name}.died.{me}", replica, job, output.audio)
            os._exit(17)
        return output
