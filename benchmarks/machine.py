"""What a figure was measured on, and the device's own limits: matmul rate, memory, timing.

Every figure in a report carries the machine it came from (device name, torch, dtype, date),
because the same code differs by orders of magnitude between a 2-core CPU and an H100.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> float | None:
    """1-minute load average (other processes competing for the cores make CPU timings noisy)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


@dataclass(frozen=True)
class MachineInfo:
    device: str
    device_name: str
    cpu: str
    cpu_cores: int
    torch_threads: int
    memory_gib: float
    torch_version: str
    cuda_version: str | None
    diffusers_version: str
    python: str
    date: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def short(self) -> str:
        if self.device.startswith("cuda"):
            return f"{self.device_name}, torch {self.torch_version}"
        return f"{self.cpu} ({self.cpu_cores} cores, {self.torch_threads} threads), torch {self.torch_version}"


def machine_info(device: torch.device) -> MachineInfo:
    import diffusers

    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem = float("nan")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    return MachineInfo(
        device=str(device),
        device_name=name,
        cpu=_cpu_name(),
        cpu_cores=os.cpu_count() or 1,
        torch_threads=torch.get_num_threads(),
        memory_gib=round(mem, 1),
        torch_version=torch.__version__,
        cuda_version=torch.version.cuda,
        diffusers_version=diffusers.__version__,
        python=platform.python_version(),
        date=_dt.date.today().isoformat(),
    )


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """Wall seconds of ``fn()`` with the device's queue drained before and after."""
    synchronize(device)
    start = time.perf_counter()
    out = fn()
    synchronize(device)
    return time.perf_counter() - start, out


@dataclass(frozen=True)
class Repeats:
    """Seconds of repeated runs: the minimum is the least disturbed, the median the typical."""

    seconds: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def repeat(fn: Callable[[], Any], device: torch.device, n: int, warmup: int = 1) -> Repeats:
    for _ in range(warmup):
        timed(fn, device)
    return Repeats(tuple(timed(fn, device)[0] for _ in range(n)))


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int | None = None, reps: int = 5) -> float:
    """Best measured FLOP/s of an ``n x n`` GEMM in ``dtype``: the device's practical peak.

    The FLOP floor of a figure is its counted FLOPs over this rate (fp32 on the CPU, where the
    engines compute in fp32; bf16 on a GPU).
    """
    if n is None:
        n = 8192 if device.type == "cuda" else 2048
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn((n, n), generator=gen).to(device, dtype)
    b = torch.randn((n, n), generator=gen).to(device, dtype)
    with torch.inference_mode():
        runs = repeat(lambda: a @ b, device, reps, warmup=2)
    return 2.0 * n**3 / runs.min


_RATE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class Rates:
    """Best matmul rate seen so far per dtype on one device, the reference of every FLOP floor.

    Another process on a shared CPU lowers a measurement, so the benchmark measures again before
    each case and keeps the best. fp16 work is referred to the bf16 rate (same tensor-core rate).
    """

    def __init__(self, device: torch.device, n: int | None = None) -> None:
        self.device = device
        self.n = n
        self.best: dict[str, float] = {}
        self.samples: list[dict[str, float]] = []

    def measure(self) -> dict[str, float]:
        got = {name: matmul_rate(self.device, dt, self.n) for name, dt in _RATE_DTYPES.items()}
        self.samples.append(got)
        for name, value in got.items():
            self.best[name] = max(self.best.get(name, 0.0), value)
        return got

    def of(self, dtype: torch.dtype) -> float:
        return self.best["float32" if dtype == torch.float32 else "bfloat16"]


class PeakMemory:
    """Peak resident memory (CPU RSS, sampled every ``interval`` s) and peak allocated GPU memory.

    ``with PeakMemory(device) as peak: ...`` then ``peak.rss_gib`` / ``peak.gpu_gib``. RSS comes
    from psutil when installed, else /proc/self/statm; the process-lifetime maximum
    (``resource.getrusage``) is recorded too, as ``lifetime_rss_gib``.
    """

    def __init__(self, device: torch.device, interval: float = 0.05) -> None:
        self.device = device
        self.interval = interval
        self.rss_gib = float("nan")
        self.gpu_gib: float | None = None
        self.lifetime_rss_gib = float("nan")
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def current_rss() -> int:
        try:
            import psutil

            return int(psutil.Process().memory_info().rss)
        except ImportError:
            with open("/proc/self/statm", encoding="ascii") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self.current_rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._peak = self.current_rss()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._peak = max(self._peak, self.current_rss())
        self.rss_gib = self._peak / 2**30
        if self.device.type == "cuda":
            self.gpu_gib = torch.cuda.max_memory_allocated(self.device) / 2**30
        try:
            import resource

            self.lifetime_rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        except ImportError:  # pragma: no cover - not on Linux
            pass
