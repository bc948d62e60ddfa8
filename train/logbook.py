"""Metrics of a run: one JSON line per logged iteration, and TensorBoard event files.

On resume, lines past the restored iteration are dropped (they belong to work
the kill threw away) and TensorBoard purges the same steps, so curves never
show a step twice. A last line cut short by a kill (no newline, not JSON) is
dropped with a note; a damaged complete line is an error naming its line.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"


def clean(metrics: dict[str, Any]) -> dict[str, Any]:
    """Plain floats; NaN (nothing measured this iteration) becomes None in JSON."""
    out = {}
    for name, value in metrics.items():
        value = float(value) if not isinstance(value, (int, str)) else value
        out[name] = None if isinstance(value, float) and math.isnan(value) else value
    return out


class Logbook:
    def __init__(self, run: Path, resume_from: int | None, enabled: bool = True):
        from tensorboardX import SummaryWriter

        self.enabled = enabled
        self.path = run / METRICS_FILE
        self.notes: list[str] = []
        if not enabled:
            return
        if resume_from is not None and self.path.exists():
            records, torn = _parse(self.path)
            if torn:
                self.notes.append(f"{self.path}: dropped a last line cut short (the run was killed while writing it)")
            kept = [json.dumps(record) for record in records if record.get("iteration", 0) <= resume_from]
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text("".join(line + "\n" for line in kept))
            temporary.replace(self.path)
        elif resume_from is None and self.path.exists():
            self.path.unlink()
        self.file = self.path.open("a")
        self.writer = SummaryWriter(str(run / "tensorboard"),
                                    purge_step=None if resume_from is None else resume_from + 1)

    def write(self, iteration: int, metrics: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record = {"iteration": iteration, **clean(metrics)}
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        for name, value in record.items():
            if name != "iteration" and isinstance(value, (int, float)):
                self.writer.add_scalar(name, value, iteration)
        self.writer.flush()

    def close(self) -> None:
        if self.enabled:
            self.file.close()
            self.writer.close()


def _parse(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """(records, whether a torn last line was dropped). A complete line that is not a JSON object
    is an InputError naming the line."""
    from portunus.errors import InputError
    from portunus.inputs import read_text

    text = read_text(path, "metrics log")
    lines = text.split("\n")
    records, torn = [], False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):      # no newline after it: a write cut short by a kill
                torn = True
                continue
            raise InputError(f"not a JSON line: {error.msg}", str(path), number) from None
        if not isinstance(record, dict) or not isinstance(record.get("iteration"), int):
            raise InputError("not a metrics record (a JSON object with an 'iteration')", str(path), number)
        records.append(record)
    return records, torn


def read_metrics(run: str | Path) -> list[dict[str, Any]]:
    from portunus.errors import InputError

    path = Path(run) / METRICS_FILE
    if not path.exists():
        raise InputError(f"{run} has no {METRICS_FILE}: not a training run, or nothing logged yet")
    return _parse(path)[0]
