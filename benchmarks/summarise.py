"""Figures of several benchmark JSON files side by side: best and median per figure.

    python -m benchmarks.summarise benchmarks/results/cpu-*.json

On a shared machine one run says little; the best of several (and their median) is what the
README reports, with the load each run saw.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.report import fmt


def collect(paths: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """Figures by name (each floor as its run computed it: against the best matmul rate that run saw)."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        for fig in data.get("figures", []):  # other experiments' files have none
            fig = {**fig, "file": path.name, "date": data["machine"]["date"],
                   "device_name": data["machine"]["device_name"], "load": data["facts"].get("load_average_start")}
            by_name.setdefault(fig["name"], []).append(fig)
    return by_name


def table(by_name: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["| figure | best | median | runs | target | vs reference loop (best) | of FLOP floor (best) | how | machine, date |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, figs in by_name.items():
        better = (lambda f: -f["value"]) if figs[0]["higher_is_better"] else (lambda f: f["value"])
        best = min(figs, key=better)
        med = statistics.median(f["value"] for f in figs)
        unit = best["unit"]
        ratio = best.get("vs_baseline")
        floor = best.get("of_floor")
        lines.append(
            f"| {name} | {fmt(best['value'])} {unit} | {fmt(med)} {unit} | {len(figs)} | {best.get('target') or '-'} | "
            f"{fmt(ratio) + 'x' if ratio else '-'} | {f'{100 * floor:.0f}%' if floor else '-'} | {best['how']} | "
            f"{best['device_name']}, {best['date']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.summarise", description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args(argv)
    text = table(collect(args.files))
    print(text)
    return text


if __name__ == "__main__":
    main()
