"""Where the time of an engine run goes, from forward hooks on its models (no engine changes).

``ModuleClock`` counts the batch elements that pass through a module and, optionally, the wall
time between a start module's pre-hook and an end module's hook (the DIFT and attention engines
stop the UNet with a hook that raises inside the last block they need, so the end is that block,
not the UNet). With ``sync`` the device queue is drained at both ends, which makes the times
true on a GPU but serialises the run: throughput figures are taken with ``sync`` off.
Backward passes are invisible to forward hooks; the caller derives them from wall time.
"""

from __future__ import annotations

import time
from typing import Any

import torch


class ModuleClock:
    def __init__(self, start: torch.nn.Module, end: torch.nn.Module | None = None, *, sync: bool = False) -> None:
        self.elements = 0
        self.calls = 0
        self.seconds = 0.0
        self.sync = sync
        self._t0: float | None = None
        self._handles = [start.register_forward_pre_hook(self._pre)]
        self._handles.append((end or start).register_forward_hook(self._post))

    def _now(self, ref: Any) -> float:
        if self.sync and isinstance(ref, torch.Tensor) and ref.is_cuda:
            torch.cuda.synchronize(ref.device)
        return time.perf_counter()

    def _pre(self, _module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        x = args[0] if args else None
        self.calls += 1
        if isinstance(x, torch.Tensor):
            self.elements += int(x.shape[0])
        self._t0 = self._now(x)

    def _post(self, _module: torch.nn.Module, _args: tuple[Any, ...], output: Any) -> None:
        ref = output[0] if isinstance(output, tuple) else output
        if self._t0 is not None:
            self.seconds += self._now(ref) - self._t0
            self._t0 = None

    def reset(self) -> None:
        self.elements = self.calls = 0
        self.seconds = 0.0

    def snapshot(self) -> tuple[int, int, float]:
        return self.elements, self.calls, self.seconds

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
