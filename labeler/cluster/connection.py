"""Reaching a Ray cluster: ``local`` (start one on this machine), ``auto`` or ``HOST:PORT``.

Ray is imported only here and only when a cluster is asked for, so a plain run never pays for
it (``pip install "labeler[cluster]"`` installs it). Usage statistics are switched off before
Ray is imported: a local instance never talks to the network.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from labeler.errors import LabelerError, UserInputError

LOCAL = "local"
AUTO = "auto"
DEFAULT_PORT = 6379
#: Object store of a local instance: reference states and batches of results, never images.
LOCAL_OBJECT_STORE_BYTES = 512 * 2**20


class ClusterError(LabelerError):
    """The cluster cannot be reached or its workers cannot run the engine."""


@dataclass(frozen=True)
class ClusterOptions:
    """Where and how wide to run. ``workers`` None: one per GPU of the cluster (one when it has
    none); ``gpus_per_worker`` None: 1 when the cluster has GPUs, else 0 (a CPU share of
    ``cpus_per_worker`` cores); 0.5 puts two workers on each GPU."""

    address: str = LOCAL
    workers: int | None = None
    gpus_per_worker: float | None = None
    cpus_per_worker: float = 1.0
    connect_timeout_s: float = 5.0

    def check(self) -> None:
        if not self.address or not self.address.strip():
            raise UserInputError("--ray needs local, auto or the HOST:PORT of a running cluster's head")
        if self.workers is not None and (isinstance(self.workers, bool) or self.workers < 1):
            raise UserInputError(f"--workers must be at least 1 (got {self.workers})")
        if self.gpus_per_worker is not None and not (0 <= self.gpus_per_worker <= 8):
            raise UserInputError(f"--gpus-per-worker must be between 0 and 8 (got {self.gpus_per_worker:g})")
        if not self.cpus_per_worker > 0:
            raise UserInputError(f"CPUs per worker must be positive (got {self.cpus_per_worker:g})")
        if self.address not in (LOCAL, AUTO):
            host_port(self.address)


def host_port(address: str) -> tuple[str, int]:
    """``HOST[:PORT]`` or ``ray://HOST:PORT`` -> (host, port); a clear message otherwise."""
    text = address.strip()
    if text.startswith("ray://"):
        text = text[len("ray://"):]
    host, _, port = text.rpartition(":") if ":" in text else (text, "", str(DEFAULT_PORT))
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not host or not 0 < number < 65536 or "/" in host:
        raise UserInputError(
            f"--ray {address!r}: expected local, auto or HOST:PORT of the head (e.g. 10.0.0.5:6379, "
            "as `ray start --head` prints it)"
        )
    return host, number


def check_reachable(address: str, timeout_s: float) -> None:
    """Fail within ``timeout_s`` when nothing listens at the head's address (Ray itself would
    retry for a minute or more before giving up)."""
    host, port = host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError | socket.timeout):
            reason = f"no answer within {timeout_s:g} s"
        raise ClusterError(
            f"no Ray cluster answers at {host}:{port} ({reason}); start one there with "
            f"`ray start --head --port={port}`, or use --ray local to run on this machine"
        ) from None


def import_ray(*, loopback: bool = False) -> Any:
    """Ray, with usage statistics off. ``loopback``: a Ray started by this process binds to
    127.0.0.1 only (Ray's single-machine mode, as on macOS), so nothing listens on the network."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if loopback:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        import ray
    except ImportError:
        raise ClusterError('Ray is not installed: pip install "labeler[cluster]" (or pip install ray)') from None
    return ray


def local_cpus(options: ClusterOptions) -> int:
    """CPUs a local instance offers: what the workers ask for, at most the machine's cores (all
    of them when the number of workers follows the GPUs, which Ray counts once it has started)."""
    cores = os.cpu_count() or 1
    if options.workers is None:
        return cores
    wanted = options.workers * options.cpus_per_worker
    return max(1, min(cores, int(-(-wanted // 1))))


def connect(options: ClusterOptions) -> tuple[Any, bool]:
    """(the ray module, whether this call started Ray and so must shut it down).

    An instance already running in this process (a test's, a notebook's) is used as it is.
    """
    options.check()
    if options.address not in (LOCAL, AUTO):
        check_reachable(options.address, options.connect_timeout_s)
    ray = import_ray(loopback=options.address == LOCAL)
    if ray.is_initialized():
        return ray, False
    common: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if options.address == LOCAL:
        try:
            ray.init(
                num_cpus=local_cpus(options),
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                **common,
            )
        except Exception as exc:  # noqa: BLE001 - Ray raises anything while starting its processes
            raise ClusterError(f"cannot start a local Ray instance: {type(exc).__name__}: {exc}") from None
        return ray, True
    try:
        ray.init(address=options.address, **{k: v for k, v in common.items() if k != "include_dashboard"})
    except ConnectionError as exc:
        where = "no running Ray cluster found on this machine" if options.address == AUTO else f"cannot join {options.address}"
        raise ClusterError(f"{where}: {exc}; start one with `ray start --head`, or use --ray local") from None
    except Exception as exc:  # noqa: BLE001
        raise ClusterError(f"cannot join the Ray cluster at {options.address}: {type(exc).__name__}: {exc}") from None
    return ray, True
