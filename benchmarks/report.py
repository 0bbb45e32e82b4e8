"""Figures, the markdown table they are printed as, and the JSON they are saved as."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.machine import MachineInfo


@dataclass
class Figure:
    """One measured (or extrapolated) number.

    ``higher_is_better``: images/s yes, seconds no. ``baseline``: the same figure for the
    reference-style loop measured in the same run; ``floor``: the best value the FLOP count
    allows on this device (FLOPs / matmul rate), in the figure's unit. ``how``: "measured",
    or "extrapolated" with the reason in ``note``.
    """

    name: str
    value: float
    unit: str
    higher_is_better: bool = False
    target: str = ""
    baseline: float | None = None
    floor: float | None = None
    how: str = "measured"
    note: str = ""
    repeats: list[float] = field(default_factory=list)

    @property
    def vs_baseline(self) -> float | None:
        """Speed-up over the reference-style loop (> 1 = faster), whatever the unit's direction."""
        if self.baseline is None or not self.value or not self.baseline:
            return None
        return self.value / self.baseline if self.higher_is_better else self.baseline / self.value

    @property
    def of_floor(self) -> float | None:
        """Share of the FLOP-floor speed reached (1 = at the floor)."""
        if self.floor is None or not self.value or not self.floor:
            return None
        return self.value / self.floor if self.higher_is_better else self.floor / self.value

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["vs_baseline"] = self.vs_baseline
        d["of_floor"] = self.of_floor
        return d


@dataclass
class Report:
    machine: MachineInfo
    settings: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # FLOP counts, rates, memory, timings

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def as_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine.as_dict(),
            "settings": self.settings,
            "figures": [f.as_dict() for f in self.figures],
            "facts": self.facts,
        }

    def write_json(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), indent=2, default=_jsonable) + "\n", encoding="utf-8")

    def markdown(self) -> str:
        m = self.machine
        lines = [
            f"Machine: {m.short}; device {m.device}; {m.date}",
            "",
            "| figure | value | target | vs reference loop | of FLOP floor | how |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for f in self.figures:
            lines.append(
                f"| {f.name} | {fmt(f.value)} {f.unit} | {f.target or '-'} | "
                f"{_ratio(f.vs_baseline)} | {_share(f.of_floor)} | {f.how}{': ' + f.note if f.note else ''} |"
            )
        return "\n".join(lines)


def fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 0.1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{fmt(x)}x"


def _share(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "as_dict"):
        return obj.as_dict()
    if isinstance(obj, Path):
        return str(obj)
    return repr(obj)
