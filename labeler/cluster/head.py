"""The head of a Ray cluster, as an operator meets it: is it there, is it Ray, does it let us in,
and is it still there during a run.

Ray's own client, given a port that is not a Ray head (a web server, the dashboard's 8265),
retries for minutes inside C++ and cannot be interrupted; given a head that wants a token this
machine lacks, it prints a page of C++ lines and then advises starting a head. So before
``ray.init`` the driver asks three bounded questions, each answered by one line:

1. does anything listen (TCP connect, ``timeout_s``);
2. does it speak gRPC (an HTTP/2 server answers the client preface with a SETTINGS frame; an
   HTTP/1 web server does not: an allow-list of what a head says, not a list of what it is not);
3. does Ray's GCS client get in (on a watchdog thread, so a server that never answers costs
   ``timeout_s`` and not Ray's minutes; a token refusal becomes what to do about the token).

During a run :class:`HeadWatch` checks the head's port every second or so; a head that stays
unreachable for :data:`HEAD_LOST_S` ends the run with a :class:`HeadLost` error (what was
committed stays committed) instead of Ray's own exit after a minute.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

from labeler.errors import LabelerError

log = logging.getLogger(__name__)

#: The HTTP/2 client connection preface (RFC 9113 §3.4) and an empty SETTINGS frame.
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
H2_SETTINGS = 0x4
#: A head unreachable this long (consecutive checks) is gone; Ray itself would wait 60 s.
HEAD_LOST_S = 4.0
#: Seconds between two checks of the head during a run.
HEAD_CHECK_S = 1.0

TOKEN_HELP = (
    "copy the head's token (`ray get-auth-token` there) to ~/.ray/auth_token or RAY_AUTH_TOKEN here and "
    "set RAY_AUTH_MODE=token; every node needs the same token"
)


class HeadError(LabelerError):
    """The address does not lead to a Ray head this machine may use."""


class HeadLost(LabelerError):
    """The head stopped answering during a run."""


def tls_on() -> bool:
    """Ray with TLS (``RAY_USE_TLS=1``) wraps gRPC in TLS: the plain HTTP/2 check does not apply."""
    return os.environ.get("RAY_USE_TLS", "0").strip().lower() in ("1", "true", "yes")


def tcp_open(host: str, port: int, timeout_s: float) -> str | None:
    """None when something accepts a connection at host:port, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except (TimeoutError, socket.timeout):
        return f"no answer within {timeout_s:g} s"
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def speaks_grpc(host: str, port: int, timeout_s: float) -> bool:
    """Whether the server at host:port answers the HTTP/2 preface with a SETTINGS frame (every
    gRPC server does, first thing; web servers answer HTTP/1 or close)."""
    deadline = time.monotonic() + timeout_s
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as conn:
            conn.sendall(H2_PREFACE)
            header = b""
            while len(header) < 9:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                conn.settimeout(left)
                chunk = conn.recv(9 - len(header))
                if not chunk:
                    return False
                header += chunk
            return header[3] == H2_SETTINGS
    except OSError:
        return False


def token_available() -> bool:
    """Whether this machine has a Ray token (~/.ray/auth_token, RAY_AUTH_TOKEN(_PATH))."""
    try:
        from ray._raylet import AuthenticationTokenLoader
    except ImportError:  # a Ray without token authentication
        return False
    return bool(AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True))


def token_mode() -> bool:
    return os.environ.get("RAY_AUTH_MODE", "").strip().lower() == "token"


def enable_token_if_available() -> None:
    """What ``ray.init(address="auto")`` does (a token on this machine turns token mode on),
    without the warning Ray logs about it."""
    if "RAY_AUTH_MODE" in os.environ or not token_available():
        return
    from ray._private.authentication.authentication_token_setup import _enable_token_auth

    _enable_token_auth()


def _gcs_client(address: str) -> Any:
    import ray._raylet

    return ray._raylet.GcsClient(address=address)


def check_head(address: str, timeout_s: float) -> None:
    """Raise :class:`HeadError` with one line of what to do unless a Ray head that lets this
    machine in answers at ``address`` (HOST:PORT), all within about ``3 * timeout_s``."""
    host, _, port_text = address.rpartition(":")
    port = int(port_text)
    why = tcp_open(host, port, timeout_s)
    if why is not None:
        raise HeadError(
            f"no Ray cluster answers at {host}:{port} ({why}); start one there with "
            f"`ray start --head --port={port}`, or use --ray local to run on this machine"
        )
    if not tls_on() and not speaks_grpc(host, port, timeout_s):
        raise HeadError(
            f"{host}:{port} answers but is not a Ray head (it does not speak gRPC: a web server, or the "
            "dashboard's port?); give the head's GCS port, the one `ray start --head --port=PORT` was "
            "given (6379 by default)"
        )
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            _gcs_client(address)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=attempt, name="ray-head-probe", daemon=True)
    with c_stderr_to_log():  # Ray's C++ client logs the refusal it raises as well
        thread.start()
        thread.join(timeout_s + 2.0)
    if not outcome:
        raise HeadError(
            f"{host}:{port} speaks gRPC but no Ray head answered within {timeout_s + 2:g} s (another "
            "service on that port, or an overloaded head); give the port of `ray start --head --port=PORT`"
        )
    exc = outcome[0]
    if exc is None:
        return
    if is_auth_error(exc):
        raise HeadError(describe_join_error(address, exc)) from None
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    raise HeadError(
        f"{host}:{port} speaks gRPC but is not a Ray head's GCS ({lines[0][:160] if lines else type(exc).__name__}); "
        "give the port of `ray start --head --port=PORT` (6379 by default)"
    ) from None


@contextlib.contextmanager
def c_stderr_to_log() -> Iterator[None]:
    """Lines that C++ code writes to file descriptor 2 meanwhile go to the log, not the terminal
    (Ray's client writes there directly, past Python's sys.stderr)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode("utf-8", "replace").splitlines():
                log.info("ray: %s", line)


def is_auth_error(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return "AuthenticationError" in text or "InvalidAuthToken" in text or "UNAUTHENTICATED" in text


def describe_join_error(address: str, exc: BaseException) -> str:
    """One line for an error of Ray's while joining ``address`` (never Ray's page of advice)."""
    if is_auth_error(exc):
        if not token_mode() and token_available():
            have = "RAY_AUTH_MODE is not 'token' here (Ray sends this machine's token to a HOST:PORT only then)"
        elif token_mode() and token_available():
            have = "the token of this machine is not the cluster's"
        else:
            have = "this machine has no token"
        return f"the Ray cluster at {address} uses token authentication and {have}: {TOKEN_HELP}"
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return f"cannot join the Ray cluster at {address}: {type(exc).__name__}: {lines[0][:300] if lines else ''}".rstrip(": ")


class HeadWatch:
    """Is the head still there? :meth:`check` is cheap to call often: it connects to the head's
    port at most every :data:`HEAD_CHECK_S` and raises :class:`HeadLost` once the head has not
    answered for :data:`HEAD_LOST_S`."""

    def __init__(self, address: str, *, lost_after_s: float = HEAD_LOST_S, every_s: float = HEAD_CHECK_S) -> None:
        host, _, port = address.rpartition(":")
        self.address = address
        self.host, self.port = host, int(port)
        self.lost_after_s = lost_after_s
        self.every_s = every_s
        self._last_check = 0.0
        self._down_since: float | None = None

    def check(self) -> None:
        now = time.monotonic()
        if now - self._last_check < self.every_s:
            return
        self._last_check = now
        why = tcp_open(self.host, self.port, min(1.0, self.every_s))
        if why is None:
            self._down_since = None
            return
        if self._down_since is None:
            self._down_since = now
        if now - self._down_since >= self.lost_after_s:
            raise HeadLost(f"the Ray head at {self.address} is gone ({why})")

    def settle(self) -> None:
        """Check now and, while the head does not answer, again until it answers (returns) or
        has been gone for :attr:`lost_after_s` (raises :class:`HeadLost`)."""
        self._last_check = 0.0
        self.check()
        while self._down_since is not None:
            time.sleep(self.every_s)
            self._last_check = 0.0
            self.check()
