"""Helpers shared by the subcommands: parsing schema arguments, printing reports."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from labeler.display import MAX_LISTED, listing, shown
from labeler.errors import UserInputError

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported only when a command runs
    from labeler.store import SkippedFile


def count(n: int, word: str, plural: str | None = None) -> str:
    """``1 image``, ``2 images`` (never "1 images")."""
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def add_user_option(parser) -> None:  # noqa: ANN001 - an argparse parser
    parser.add_argument(
        "--user", metavar="NAME",
        help="record the confirmed edits as NAME's (default: $LABELER_USER, else your login name)",
    )


def eprint(*lines: str) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def split_list(text: str, what: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``; empty items are an error."""
    items = [t.strip() for t in text.split(",")]
    if any(not t for t in items):
        raise UserInputError(f"{what} {text!r} has an empty item (check the commas)")
    return items


def parse_edge(text: str, names: Sequence[str]) -> tuple[str, str]:
    """``"a-b"``; names may contain '-' themselves, so every split point is tried."""
    splits = [(text[:i], text[i + 1 :]) for i, ch in enumerate(text) if ch == "-"]
    valid = [(a, b) for a, b in splits if a in names and b in names]
    if len(valid) == 1:
        return valid[0]
    if len(valid) > 1:
        raise UserInputError(f"skeleton edge {text!r} can be read in several ways; rename the keypoints")
    raise UserInputError(
        f"skeleton edge {text!r} must join two keypoints as NAME-NAME (keypoints: {', '.join(names)})"
    )


def parse_skeleton(text: str | None, names: Sequence[str]) -> list[tuple[str, str]]:
    return [] if not text else [parse_edge(e, names) for e in split_list(text, "--skeleton")]


def parse_flips(values: Iterable[str] | None) -> list[tuple[str, str]]:
    pairs = []
    for value in values or []:
        for item in split_list(value, "--flip"):
            parts = item.split(":")
            if len(parts) != 2 or not all(p.strip() for p in parts):
                raise UserInputError(f"flip pair {item!r} must be LEFT:RIGHT, e.g. left_eye:right_eye")
            pairs.append((parts[0].strip(), parts[1].strip()))
    return pairs


#: Exit status of a command that did its work but left something out (listed on stderr).
EXIT_SOME_FAILED = 1


def print_skipped(skipped: Sequence[SkippedFile], *, stream=None) -> None:  # noqa: ANN001
    if not skipped:
        return
    out = stream or sys.stderr
    print(f"skipped {len(skipped)} file(s) that cannot be read:", file=out)
    print(listing([f"{shown(s.path)}: {s.reason}" for s in skipped], 2 * MAX_LISTED), file=out)


def print_paths(paths: Sequence[str], *, limit: int = 10, stream=None) -> None:  # noqa: ANN001
    """Indented, at most ``limit`` of them (then a count)."""
    for path in paths[:limit]:
        print(f"  {shown(path)}", file=stream or sys.stdout)
    if len(paths) > limit:
        print(f"  ... and {len(paths) - limit} more", file=stream or sys.stdout)


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    """--ray, --workers, --gpus-per-worker (shared with `labeler eval`)."""
    g = p.add_argument_group("cluster (Ray; pip install \"labeler[cluster]\")")
    g.add_argument(
        "--ray",
        metavar="local|auto|HOST:PORT",
        help="run on Ray workers: local starts Ray on this machine, auto or HOST:PORT joins a running "
        "cluster (`ray start --head`); workers read the images from the same path",
    )
    g.add_argument("--workers", type=int, metavar="N", help="Ray workers (default: one per GPU of the cluster, 1 without GPUs)")
    g.add_argument(
        "--gpus-per-worker",
        type=float,
        metavar="F",
        help="GPUs per worker (default: 1 when the cluster has GPUs, else 0 = a CPU worker; 0.5 = two per GPU)",
    )


def cluster_from_args(args: argparse.Namespace):  # noqa: ANN201 - labeler.cluster.RayExecutor | None
    """The Ray executor the options ask for, or None. A cluster to join is reached now (a bad
    address fails before anything else); a local instance starts only once a model is needed."""
    if args.ray is None:
        if args.workers is not None or args.gpus_per_worker is not None:
            raise UserInputError("--workers and --gpus-per-worker apply to a Ray run: add --ray local (or auto, HOST:PORT)")
        return None
    from labeler.cluster import LOCAL, ClusterOptions, RayExecutor

    executor = RayExecutor(ClusterOptions(address=args.ray.strip(), workers=args.workers, gpus_per_worker=args.gpus_per_worker))
    if executor.options.address != LOCAL:
        executor.connect()
    return executor
