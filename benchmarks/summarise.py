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
    """Figures by name. Floors are rescaled to the best matmul rate any file measured on the same
    device (a busy CPU measures a low rate, which would flatter the floor fraction)."""
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    runs = [(p, d) for p, d in zip(paths, runs) if "figures" in d]  # other experiments' files have none
    # Files of `--only rate` runs have no figures but count for the best rate.
    best_rate: dict[tuple[str, str], float] = {}
    for _, data in runs:
        key = (data["machine"]["device_name"], data["facts"]["floor_rate"]["dtype"])
        rates = [v for k, v in data["facts"]["matmul_flops_per_s"].items() if k.startswith(key[1].split(".")[-1])]
        best_rate[key] = max([best_rate.get(key, 0.0), *rates])
    by_name: dict[str, list[dict[str, Any]]] = {}
    for path, data in runs:
        key = (data["machine"]["device_name"], data["facts"]["floor_rate"]["dtype"])
        scale = data["facts"]["floor_rate"]["flops_per_s"] / best_rate[key]
        for fig in data["figures"]:
            fig = {**fig, "file": path.name, "date": data["machine"]["date"], "device_name": key[0],
                   "load": data["facts"].get("load_average_start")}
            if fig.get("floor") and fig.get("of_floor"):
                fig["of_floor"] *= scale  # floor time x scale; a rate floor / scale: the share scales alike
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
