"""What to do when the accelerator runs out of memory, in order of cost to the user.

1. Fewer target images per engine call (halve the run's batch; the same images are retried).
2. A smaller engine batch (UNet elements per pass), when the engine has one.
3. The CPU: ``matcher.to("cpu")``, with a message (slow, but the run completes).

Each step is taken once it is needed and stays in force for the rest of the run.
"""

from __future__ import annotations

from collections.abc import Callable

from labeler.correspondence.base import DeviceOutOfMemory, Matcher
from labeler.errors import LabelerError
from labeler.propagation.engines import shrink_engine_batch

HALVE = "halve"
SHRUNK = "engine batch"
CPU = "cpu"


class OutOfMemoryRecovery:
    def __init__(self, matcher: Matcher, messages: list[str], notify: Callable[[str], None] | None = None) -> None:
        self.matcher = matcher
        self.messages = messages
        self.notify = notify
        self.moved_to_cpu = False

    def _say(self, text: str) -> None:
        self.messages.append(text)
        if self.notify is not None:
            self.notify(text)

    def recover(self, exc: DeviceOutOfMemory, *, batch: int) -> str | None:
        """The step taken (HALVE, SHRUNK, CPU), or None when nothing is left to try."""
        if batch > 1:
            self._say(f"out of memory on {self.matcher.device} with {batch} images per batch; retrying with {batch // 2}")
            return HALVE
        new = shrink_engine_batch(self.matcher)
        if new is not None:
            self._say(f"out of memory on {self.matcher.device}; engine batch lowered to {new}")
            return SHRUNK
        device = self.matcher.device
        if not device.startswith("cpu"):
            try:
                self.matcher.to("cpu")
            except (LabelerError, NotImplementedError, RuntimeError) as move_error:
                self._say(f"out of memory on {device} and the engine cannot move to the CPU ({move_error})")
                return None
            self.moved_to_cpu = True
            self._say(f"out of memory on {device} even with one image per batch; continuing on the CPU (slower)")
            return CPU
        return None
