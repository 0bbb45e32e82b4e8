"""``labeler eval --dataset spair|pf-willow|cub --root DIR ...``: PCK of a method on a benchmark."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from labeler.cli.common import add_cluster_arguments
    from labeler.evaluation.command import add_eval_arguments, run_eval

    p = subparsers.add_parser(
        "eval",
        help="measure PCK of a method on SPair-71k, PF-Willow, CUB-200-2011 or an SPair-style export",
    )
    add_eval_arguments(p)
    add_cluster_arguments(p)
    p.set_defaults(run=run_eval)
