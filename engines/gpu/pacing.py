"""How far a long job's host loop may run ahead of the device.

A CUDA launch returns at once, so a loop of graph replays (F5's ODE steps) queues every step on
the device before the first has run, unless something waits. The worker's turn offers
(``DeviceWorker.yield_point``) then wait for all of it before a short job can go: up to a whole
ODE of eight long rows (1-3 s on an H100) for a stream's first audio. ``HostPace.step`` at each
turn offer waits for the device to finish the piece before the last one, so one piece is always
queued (the device never waits for the host) and a turn comes within about two pieces.
"""

from __future__ import annotations


class HostPace:
    """Called from one thread at each of its turn offers (on CUDA)."""

    def __init__(self) -> None:
        self._previous = None  # the event recorded at the offer before the last

    def step(self) -> None:
        import torch

        event = torch.cuda.Event()
        event.record()
        previous, self._previous = self._previous, event
        if previous is not None:
            previous.synchronize()

    def wait(self) -> None:
        """Wait for everything this thread launched up to its last ``step``: the device is free."""
        if self._previous is not None:
            self._previous.synchronize()
