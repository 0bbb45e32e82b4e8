"""Real Ray nodes started by a test with ``ray start`` (loopback addresses, a temp dir of their
own, token authentication with a token of the test's), stopped by their own process ids: never
``ray stop``, which would stop every Ray process of the machine, other people's included."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psutil

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment without any Ray settings (this test process's own Ray, e.g. the session's
    local instance, sets some), HOME in a temp dir (so no ~/.ray of the machine's user is read or
    written), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), RAY_USAGE_STATS_ENABLED="0", OMP_NUM_THREADS="1", **extra)
    return env


@dataclass
class Nodes:
    """A head (and maybe more nodes) of one test, all under ``temp_dir``."""

    temp_dir: Path
    port: int
    token: str
    home: Path
    started: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(self.home, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, **extra)

    def _start(self, *args: str) -> subprocess.Popen:
        common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0", f"--temp-dir={self.temp_dir}",
                  f"--dashboard-agent-listen-port={free_port()}", f"--metrics-export-port={free_port()}"]
        return subprocess.Popen([RAY, "start", *args, *common], env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def start_head(self) -> subprocess.Popen:
        return self._start("--head", f"--port={self.port}", "--include-dashboard=false", "--disable-usage-stats",
                           f"--dashboard-port={free_port()}")

    def join(self) -> subprocess.Popen:
        """A second node; `ray start --address` waits for the head, so both may start at once."""
        return self._start(f"--address={self.address}")

    @staticmethod
    def wait(*starts: subprocess.Popen) -> None:
        for start in starts:
            out, _ = start.communicate(timeout=120)
            assert start.returncode == 0, out[-3000:]

    def processes(self, only: str = "") -> list[psutil.Process]:
        """This test's Ray processes (their command lines name its temp dir), with their children
        (workers); ``only``: those whose command line also contains it (e.g. 'gcs_server')."""
        mine: dict[int, psutil.Process] = {}
        for p in psutil.process_iter(["cmdline"]):
            line = " ".join(p.info["cmdline"] or [])
            if str(self.temp_dir) in line and only in line:
                mine[p.pid] = p
                if not only:
                    try:
                        mine.update((c.pid, c) for c in p.children(recursive=True))
                    except psutil.Error:
                        pass
        return list(mine.values())

    def kill(self, processes: list[psutil.Process] | None = None) -> None:
        for p in processes if processes is not None else self.processes():
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        psutil.wait_procs(processes if processes is not None else [], timeout=10)
