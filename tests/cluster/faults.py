"""A replica that dies with a job in its hands, when a test asks it to (fault injection).

The test arms a death by writing ``<engine>.die.<n>`` files into ``$VOICE_STUDIO_TEST_FAULTS``
(a folder every replica sees). A replica that has just rendered a job claims one file (an
atomic rename: exactly one replica wins each), leaves what it rendered and who it was beside
it, and exits at once: the job was done, but its result never leaves the replica.
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
    """What each replica that died left behind: its id and the audio it never delivered."""
    found = []
    for record in sorted(folder.glob(f"{engine}.died.*.json")):
        entry = json.loads(record.read_text(encoding="utf-8"))
        entry["audio"] = np.load(record.with_suffix(".npy"))
        found.append(entry)
    return found


class DyingReplica(EngineReplica):
    """``EngineReplica``, except that it dies after rendering when a death is armed for its engine."""

    def render(self, job):
        output = super().render(job)
        folder = Path(os.environ[ENV])
        me = self.identity["replica"].replace("#", "-")
        for armed in sorted(folder.glob(f"{self.name}.die.*")):
            try:
                os.rename(armed, folder / f"{self.name}.died.{me}.claim")
            except FileNotFoundError:  # another replica claimed it first
                continue
            np.save(folder / f"{self.name}.died.{me}.npy", output.audio)
            (folder / f"{self.name}.died.{me}.json").write_text(
                json.dumps({"replica": self.identity["replica"], "seed": job.seed}), encoding="utf-8")
            os._exit(17)
        return output
