"""Test-wide guards: no network, offscreen Qt, a private cache for the tiny model."""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# One cache per test session (the tiny model is built into it once); LABELER_TEST_CACHE reuses one.
# pgserver asks platformdirs for a runtime folder, which warns when a CI shell has none.
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="labeler-test-runtime-"))
os.environ["LABELER_CACHE"] = os.environ.get("LABELER_TEST_CACHE") or tempfile.mkdtemp(prefix="labeler-test-cache-")

_real_connect = socket.socket.connect


def _guarded_connect(self, address):  # noqa: ANN001
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            local = ipaddress.ip_address(host).is_loopback
        except ValueError:
            local = host == "localhost"
        if not local:
            raise RuntimeError(f"tests must not touch the network (tried to connect to {address})")
    return _real_connect(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def photos():
    """Real photographs shipped inside scikit-image (no download): name -> (H, W, 3) uint8."""
    from skimage import data

    return {name: getattr(data, name)() for name in ("chelsea", "astronaut", "coffee", "rocket")}


@pytest.fixture(scope="session")
def tiny_model_dir():
    """The tiny random SD folder (built once per session through the real save/load path)."""
    from labeler.correspondence.tiny import tiny_model_dir as build

    return Path(build())


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the session (the ``pgserver`` wheel's binaries; as root it
    runs the server as an unprivileged system user), listening on a Unix socket in a temporary
    folder. Yields the superuser's URL; tests add ``&schema=NAME`` for a project of their own.

    Not under pytest's own temporary folder: pytest resets that to mode 0700 whenever a test
    session starts, which would lock the server's user out of its data folder.
    """
    import shutil

    import pgserver

    folder = Path(tempfile.mkdtemp(prefix="labeler-pg-"))
    server = pgserver.get_server(folder / "data", cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


_schemas = iter(range(1, 1_000_000))


@pytest.fixture
def pg_url(pg_server):
    """The URL of a fresh, empty project schema on the session's server."""
    return f"{pg_server}&schema=t{next(_schemas)}"
