"""Reaching a Ray cluster: ``local`` (start one on this machine), ``auto`` or ``HOST:PORT``.

Ray is imported only here and only when a cluster is asked for, so a plain run never pays for
it (``pip install "labeler[cluster]"`` installs it). Usage statistics are switched off before
Ray is imported: a local instance never talks to the network.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from labeler.cluster.head import HeadError, c_stderr_to_log, check_head, describe_join_error, enable_token_if_available
from labeler.errors import LabelerError, UserInputError

log = logging.getLogger(__name__)

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
    join_timeout_s: float = 20.0

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
    """``HOST[:PORT]`` -> (host, port); a clear message otherwise. ``ray://`` (Ray Client) is
    refused: the driver joins the cluster as a node's peer (it must reach the workers' ports
    anyway to hand them work), so the head's GCS address is what it needs."""
    text = address.strip()
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise UserInputError(
            f"--ray {address!r}: {scheme}:// addresses are not used; give the head's GCS address HOST:PORT "
            "(e.g. 10.0.0.5:6379, as `ray start --head --port=6379` prints it; not the Ray Client port 10001) "
            "and run labeler on a machine that reaches every node of the cluster"
        )
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
    try:  # what resolving it does first (a label over 63 characters, a character no host name has)
        host.encode("idna")
    except UnicodeError:
        raise UserInputError(f"--ray {address!r}: {host[:80]!r} is not a host name or address") from None
    return host, number


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


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def quiet_ray_messages(ray: Any) -> None:
    """Ray's driver prints what its raylets report (``(raylet) Task ... failed``, in colour) to
    this process's stdout, under the progress bar and into the summary a script parses. labeler
    reports lost workers itself (once, in words); Ray's lines go to the log instead."""
    # Ray's Python warnings (with configure_logging=False it installs no handler, so Python's
    # last-resort handler would print them): to the application's log handlers, if any.
    ray_logger = logging.getLogger("ray")
    if not any(isinstance(h, logging.NullHandler) for h in ray_logger.handlers):
        ray_logger.addHandler(logging.NullHandler())
    worker_module = getattr(getattr(ray, "_private", None), "worker", None)
    if worker_module is None or getattr(worker_module.print_to_stdstream, "_labeler_quiet", False):
        return

    def to_log(data: dict, ignore_prefix: bool = False) -> None:  # noqa: FBT001, FBT002 - Ray's signature
        for line in data.get("lines", ()):
            log.info("ray (%s): %s", data.get("pid", "?"), _ANSI.sub("", str(line)))

    to_log._labeler_quiet = True  # type: ignore[attr-defined]
    worker_module.print_to_stdstream = to_log


#: What a local instance's processes need to know of its token (set for it, then restored).
AUTH_VARIABLES = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")


def private_token_env() -> dict[str, str | None]:
    """Give a local instance a token of its own, in the environment it and its workers inherit.

    Current Ray turns token authentication on for a new local instance and, without a token,
    writes one to ~/.ray/auth_token, which then silently turns token mode on for every later
    `ray start` and `ray.init(address="auto")` of that user (an operator's cluster started
    afterwards refuses its own nodes). A random token in the environment protects the instance
    from other users of this machine and writes nothing. An operator's own RAY_AUTH_* settings
    win. Returns the previous values, for :func:`restore_env`."""
    if any(name in os.environ for name in (*AUTH_VARIABLES, "RAY_AUTH_TOKEN_PATH")):
        return {}
    previous = {name: os.environ.get(name) for name in AUTH_VARIABLES}
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    refresh_ray_auth()
    return previous


def refresh_ray_auth() -> None:
    """Ray reads RAY_AUTH_* once, when it is imported: make this process see their new values."""
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # a Ray without token authentication
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


#: The environment a local instance of this process changed (restored by :func:`disconnect`).
_local_env: dict[str, str | None] = {}


def disconnect(ray: Any) -> None:
    """Shut down the Ray this process started and give back the environment it changed (a later
    run of the app may join a real cluster, with the operator's own token settings)."""
    if ray is not None:
        ray.shutdown()
    for name, value in _local_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if _local_env:
        refresh_ray_auth()
    _local_env.clear()


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
    ray = import_ray(loopback=options.address == LOCAL)
    if ray.is_initialized():
        return ray, False
    common: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if options.address == LOCAL:
        previous = private_token_env()
        _local_env.update(previous)
        try:
            ray.init(
                num_cpus=local_cpus(options),
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                **common,
            )
        except Exception as exc:  # noqa: BLE001 - Ray raises anything while starting its processes
            disconnect(None)
            raise ClusterError(f"cannot start a local Ray instance: {type(exc).__name__}: {exc}") from None
        quiet_ray_messages(ray)
        return ray, True
    address = options.address
    if address == AUTO:
        address = running_cluster(ray)
        try:
            join_auto(address, options.connect_timeout_s)
        except HeadError as exc:
            raise ClusterError(str(exc)) from None
    else:
        address = "%s:%d" % host_port(address)
        try:
            check_head(address, options.connect_timeout_s)
        except HeadError as exc:
            raise ClusterError(str(exc)) from None
    join_within(ray, address, options.join_timeout_s, **{k: v for k, v in common.items() if k != "include_dashboard"})
    quiet_ray_messages(ray)
    return ray, True


def join_within(ray: Any, address: str, timeout_s: float, **kwargs: Any) -> None:
    """``ray.init(address)`` on a watchdog thread: a head that answers its port but whose nodes
    cannot be reached (it advertises an address this machine cannot route to, a firewall
    between the nodes) makes Ray's C++ client retry for minutes, deaf to signals. The main thread
    waits in short steps (Ctrl-C and SIGTERM act at once) and gives up after ``timeout_s``."""
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            ray.init(address=address, **kwargs)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=attempt, name="ray-join", daemon=True)
    with c_stderr_to_log():  # Ray's retries and notes while joining: the outcome is said below
        thread.start()
        deadline = time.monotonic() + timeout_s
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(0.2)
    if not outcome:
        raise ClusterError(
            f"the Ray head at {address} answers, but joining the cluster did not finish within {timeout_s:g} s: "
            "this machine cannot reach the address the head advertises (`ray status` on the head shows "
            "it; start the head with --node-ip-address=AN_ADDRESS_THIS_MACHINE_REACHES) or a firewall blocks "
            "the node ports (see the README's Clusters section)"
        )
    if outcome[0] is not None:
        raise ClusterError(describe_join_error(address, outcome[0])) from None


def join_auto(address: str, timeout_s: float) -> None:
    """``--ray auto``: Ray itself turns token mode on whenever this machine has a token, also for
    a cluster started without one, whose workers then cannot call back a driver that wants a
    token ("worker died while loading the engine"). So the head is asked without a token first;
    token mode is turned on only when the head asks for one (unless RAY_AUTH_MODE says)."""
    from labeler.cluster.head import token_available

    try:
        check_head(address, timeout_s)
    except HeadError as exc:
        if "RAY_AUTH_MODE" in os.environ or not token_available() or "token authentication" not in str(exc):
            raise
        enable_token_if_available()
        check_head(address, timeout_s)


def check_address(options: ClusterOptions) -> None:
    """The checks :func:`connect` makes before joining HOST:PORT, for a command that joins
    later (``labeler eval --ray`` checks before it reads a dataset)."""
    options.check()
    if options.address in (LOCAL, AUTO):
        return
    import_ray()
    try:
        check_head("%s:%d" % host_port(options.address), options.connect_timeout_s)
    except HeadError as exc:
        raise ClusterError(str(exc)) from None


def running_cluster(ray: Any) -> str:
    """The GCS address of the cluster this machine belongs to (``ray start`` records it), as
    ``ray.init(address="auto")`` finds it; one line when there is none."""
    try:
        from ray._private.services import canonicalize_bootstrap_address_or_die

        return canonicalize_bootstrap_address_or_die("auto")
    except (ConnectionError, ValueError) as exc:
        text = str(exc).strip().splitlines()
        raise ClusterError(
            "no running Ray cluster found on this machine"
            + (f" ({text[0][:200]})" if text else "")
            + ": start one with `ray start --head` (or join one with `ray start --address=HEAD:PORT`), "
            "give --ray HOST:PORT of the head, or use --ray local"
        ) from None
