"""The cluster as an operator meets it: a head of the test's own (``ray start``, token
authentication, a second node), wrong ports, missing tokens, a head lost mid-run.

One two-node cluster serves the module; the test that kills its head runs last.
"""

from __future__ import annotations

import http.server
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cluster_fixtures import CLASSICAL, export, make_project
from ray_nodes import Nodes, clean_env, free_port

from labeler.cluster import ClusterOptions
from labeler.cluster.connection import host_port
from labeler.cluster.head import HeadError, HeadWatch, check_head, speaks_grpc
from labeler.errors import LabelerError, UserInputError
from labeler.store.project import raw_connection

pytestmark = pytest.mark.slow

TOKEN = "labeler-test-" + "0123456789abcdef" * 2
#: Ray's C++ log lines and ANSI colours: never on labeler's terminal.
RAY_NOISE = re.compile(r"^\[\d{4}-\d\d-\d\d |\x1b\[|\(raylet\)|InvalidAuthToken|Token authentication is enabled", re.M)


def cli(*args: object, env: dict[str, str], timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "labeler", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, env=env)
    return r, time.monotonic() - started


def one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-2000:]
    assert "Traceback" not in r.stderr and not RAY_NOISE.search(r.stderr + r.stdout)
    return lines[0]


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    """A token-protected head and a second node (one CPU each), started and stopped by this module."""
    base = tmp_path_factory.mktemp("raynodes")
    home = base / "home"
    home.mkdir()
    cluster = Nodes(temp_dir=Path("/tmp") / f"lbl-ray-{free_port()}", port=free_port(), token=TOKEN, home=home)
    try:
        cluster.wait(cluster.start_head())
        cluster.head_processes = cluster.processes()  # type: ignore[attr-defined]
        cluster.wait(cluster.join())
        yield cluster
    finally:
        cluster.kill()
        shutil.rmtree(cluster.temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def web_server():
    """A plain HTTP server (what the dashboard's port or any web server is to a Ray client)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _listener(behaviour: str) -> tuple[str, socket.socket]:
    """A TCP server on loopback that accepts and then stays silent, closes, or talks nonsense."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            if behaviour == "close":
                conn.close()
            elif behaviour == "garbage":
                conn.sendall(b"\x00\x00\x00\x07garbage-not-settings" * 4)
            elif behaviour == "banner":
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            # silent: keep it open and say nothing

    threading.Thread(target=serve, daemon=True).start()
    return f"127.0.0.1:{sock.getsockname()[1]}", sock


@pytest.mark.parametrize("behaviour", ["silent", "close", "garbage", "banner"])
def test_a_port_that_is_not_ray_is_refused_within_the_timeout(behaviour):
    address, sock = _listener(behaviour)
    try:
        started = time.monotonic()
        with pytest.raises(HeadError, match="is not a Ray head"):
            check_head(address, 1.0)
        assert time.monotonic() - started < 2.5
    finally:
        sock.close()


def test_a_web_server_port_is_one_error_line_within_seconds(tmp_path, web_server):
    path = make_project(tmp_path, 6)
    r, seconds = cli("propagate", path, *CLASSICAL, "--ray", web_server, env=clean_env(tmp_path))
    assert "is not a Ray head" in one_error_line(r) and seconds < 15, seconds
    assert not speaks_grpc(*host_port(web_server), 1.0)


def test_sigterm_while_the_head_is_checked_ends_the_cli_at_once(tmp_path):
    """A port that accepts and says nothing keeps the check waiting (5 s): SIGTERM does not wait."""
    accepted = threading.Semaphore(0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    held = []

    def serve() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return
            accepted.release()

    threading.Thread(target=serve, daemon=True).start()
    path = make_project(tmp_path, 6)
    proc = subprocess.Popen([sys.executable, "-m", "labeler", "propagate", str(path), *CLASSICAL, "--ray",
                             f"127.0.0.1:{sock.getsockname()[1]}"], env=clean_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert accepted.acquire(timeout=60) and accepted.acquire(timeout=10)  # the TCP check, then the gRPC check
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        proc.communicate(timeout=10)
        assert time.monotonic() - started < 2.0 and proc.returncode != 0
    finally:
        proc.kill()
        sock.close()
        for conn in held:
            conn.close()


@pytest.mark.parametrize("address", ["ray://10.0.0.5:10001", "RAY://h:1", "http://127.0.0.1:8265", "grpc://h:6379", "ray://h"])
def test_url_addresses_are_refused_with_the_address_to_give(address):
    with pytest.raises(UserInputError, match=r"HOST:PORT.*6379"):
        ClusterOptions(address=address).check()


def test_the_head_checks_pass_on_a_real_head_with_its_token(nodes, monkeypatch):
    assert speaks_grpc("127.0.0.1", nodes.port, 2.0)
    from labeler.cluster.connection import refresh_ray_auth

    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", TOKEN)
    refresh_ray_auth()
    try:
        check_head(nodes.address, 5.0)  # no error: Ray's own client got in
    finally:
        monkeypatch.undo()
        refresh_ray_auth()


def test_auto_turns_token_mode_on_only_when_the_head_asks_for_a_token(tmp_path, nodes, monkeypatch):
    """--ray auto with ~/.ray/auth_token here and no RAY_AUTH_MODE: asked without a token, the
    head refuses, so token mode goes on and the head lets this machine in."""
    import os

    from labeler.cluster.connection import join_auto, refresh_ray_auth

    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.setenv(name, "")  # recorded, so undo() also removes what join_auto sets
        monkeypatch.delenv(name)
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text(TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path))
    refresh_ray_auth()
    try:
        join_auto(nodes.address, 5.0)
        assert os.environ.get("RAY_AUTH_MODE") == "token"
    finally:
        monkeypatch.undo()
        refresh_ray_auth()


@pytest.mark.parametrize(
    "setting, says",
    [
        ({}, "this machine has no token"),
        ({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "not-the-token"}, "the token of this machine is not the cluster's"),
    ],
)
def test_a_token_refusal_says_what_to_do_with_the_token(tmp_path, nodes, setting, says):
    path = make_project(tmp_path, 6)
    r, seconds = cli("propagate", path, *CLASSICAL, "--ray", nodes.address, env=clean_env(tmp_path, **setting))
    line = one_error_line(r)
    assert "token authentication" in line and says in line and "RAY_AUTH_MODE=token" in line, line
    assert "ray start --head" not in line and seconds < 20


def test_the_head_lost_mid_run_is_said_once_keeps_what_is_done_and_exits_2(tmp_path, nodes):
    """Last of the module: kills the head (its GCS and raylet); the second node's worker lives on."""
    path = make_project(tmp_path, 12)
    args = [sys.executable, "-m", "labeler", "propagate", str(path), *CLASSICAL, "--batch-size", "1",
            "--ray", nodes.address, "--workers", "2"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=nodes.env())
    deadline = time.monotonic() + 120
    while _predicted(path) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    nodes.kill(nodes.head_processes)
    killed = time.monotonic()
    out, err = proc.communicate(timeout=60)
    seconds = time.monotonic() - killed
    assert proc.returncode == 2, err[-3000:]
    errors = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Ray head" in errors[0] and "is gone" in errors[0], err[-3000:]
    assert "run the same command" in errors[0] and "predicts only what is missing" in errors[0]
    done = int(re.search(r"the (\d+) image\(s\) predicted", errors[0]).group(1))
    assert 2 <= done <= _predicted(path) <= 12
    assert err.count("is gone") == 1 and not RAY_NOISE.search(out + err), err[-3000:]
    assert seconds < 30, seconds  # Ray alone: its core ends the driver after 60 s, exit status 1


def _predicted(path: Path) -> int:
    conn = raw_connection(path)
    try:
        return conn.execute("SELECT count(*) FROM image WHERE pred_signature IS NOT NULL").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("mode", [None, "token", "disabled", "TOKEN"])
@pytest.mark.parametrize("token", [None, "env", "file", "path"])
def test_every_token_situation_gets_what_to_do_and_never_start_a_head(tmp_path, monkeypatch, mode, token):
    """Each mix of RAY_AUTH_MODE and where a token is (none, RAY_AUTH_TOKEN, ~/.ray/auth_token,
    RAY_AUTH_TOKEN_PATH): the refusal names the token and RAY_AUTH_MODE=token, fits one line."""
    from ray._raylet import AuthenticationTokenLoader

    from labeler.cluster.head import describe_join_error

    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    if mode is not None:
        monkeypatch.setenv("RAY_AUTH_MODE", mode)
    if token == "env":
        monkeypatch.setenv("RAY_AUTH_TOKEN", TOKEN)
    elif token in ("file", "path"):
        target = tmp_path / ".ray" / "auth_token" if token == "file" else tmp_path / "tok"
        target.parent.mkdir(exist_ok=True)
        target.write_text(TOKEN)
        if token == "path":
            monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(target))
    AuthenticationTokenLoader.instance().reset_cache()
    try:
        refusal = Exception("RPC error: InvalidAuthToken: Authentication token is missing or incorrect")
        line = describe_join_error("10.0.0.5:6379", refusal)
    finally:
        monkeypatch.undo()
        AuthenticationTokenLoader.instance().reset_cache()
    assert "token authentication" in line and "RAY_AUTH_MODE=token" in line and "ray get-auth-token" in line
    assert "ray start --head" not in line and "\n" not in line and len(line) < 400
    if token is None:
        assert "has no token" in line
    elif (mode or "").lower() != "token":
        assert "RAY_AUTH_MODE is not 'token'" in line


def test_the_head_watch_needs_the_head_gone_for_a_while():
    """One refused connection (a restart of the head's port, a blip) is not a lost head."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    watch = HeadWatch(f"127.0.0.1:{port}", lost_after_s=0.3, every_s=0.05)
    watch.check()  # first failure: noted
    time.sleep(0.1)
    watch.check()
    time.sleep(0.3)
    with pytest.raises(LabelerError, match="is gone"):
        watch.check()
