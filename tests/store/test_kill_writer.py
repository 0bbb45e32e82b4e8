"""kill -9 of a writer in the middle of its transactions loses nothing it committed (both backends)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from labeler.store import Project

WRITER = textwrap.dedent(
    """
    import sys
    from labeler.store import Project
    with Project.open(sys.argv[1], user="writer") as p:
        ids = [i for i, _, _ in p.image_index()][:4]
        names = p.schema().keypoints
        print("ready", flush=True)
        n = 0
        while True:
            n += 1
            image, name = ids[n % len(ids)], names[(n // len(ids)) % len(names)]
            p.set_points(image, {name: (1 + n % 30, 1 + (n // 30) % 30)})
            p.cache_put(f"big/{n % 5}", bytes(200_000), image_id=image)  # longer transactions to land in
            print(n, image, name, flush=True)
    """
)


def test_kill_9_mid_transaction_keeps_every_commit(project):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, project.location], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.time() + 60
    committed: list[tuple[int, int, str]] = []
    while len(committed) < 40 and time.time() < deadline:
        n, image, name = proc.stdout.readline().split()
        committed.append((int(n), int(image), name))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    rest = proc.stdout.read().split("\n")  # lines printed before the kill, not yet read
    for line in rest:
        if line.strip():
            n, image, name = line.split()
            committed.append((int(n), int(image), name))
    proc.stdout.close()
    assert len(committed) >= 40
    last: dict[tuple[int, str], int] = {}
    for n, image, name in committed:
        last[(image, name)] = n
    with Project.open(project.location) as after:
        for (image, name), n in last.items():
            row = after.points(image)[name]
            # the last reported edit, or one that committed just before the kill cut the report off
            stored_n = next(
                k for k in range(n, n + 40) if (row.x, row.y) == (1 + k % 30, 1 + (k // 30) % 30)
            )
            assert stored_n >= n
        # and the project is whole: it takes new edits
        image = next(iter(last))[0]
        after.set_point(image, "tail", 2, 2)
        assert after.points(image)["tail"].x == 2
