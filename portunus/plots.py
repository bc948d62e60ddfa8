"""Report plots a player or theorycrafter reads (PNG, matplotlib's file backend)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def _subplots(*args, **kwargs):
    """A figure and its axes without pyplot: no global backend or figure state is touched, so
    importing this module leaves an interactive session's matplotlib as it was."""
    figure = Figure(figsize=kwargs.pop("figsize", None))
    return figure, figure.subplots(*args, **kwargs)


def dps_distribution(summary: dict, path: Path) -> None:
    values = np.array(summary["dps"]["per_iteration"])
    figure, axis = _subplots(figsize=(7, 4))
    axis.hist(values, bins=min(40, max(5, values.size // 10)), color="#c9a227", edgecolor="#6b5512")
    axis.axvline(summary["dps"]["mean"], color="black", linestyle="--",
                 label=f"mean {summary['dps']['mean']:,.0f} ± {summary['dps']['error_95']:,.0f}")
    axis.set(xlabel="DPS", ylabel="iterations", title=f"DPS over {summary['iterations']} iterations: {summary['fight']}")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def damage_by_ability(summary: dict, path: Path) -> None:
    rows = [row for row in summary["abilities"] if row["dps"] > 0][::-1]
    figure, axis = _subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    axis.barh([row["label"] for row in rows], [row["dps"] for row in rows], color="#c9a227")
    for index, row in enumerate(rows):
        axis.text(row["dps"], index, f" {100 * row['share']:.1f} %", va="center", fontsize=8)
    axis.set(xlabel="DPS", title="Damage by ability")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def timeline(record: dict, action_names: tuple[str, ...], resource_names: tuple[str, ...], path: Path) -> None:
    """Casts (one row per ability), resources and damage over one fight."""
    figure, (casts, resources, damage) = _subplots(3, 1, figsize=(11, 7), sharex=True,
                                                      gridspec_kw={"height_ratios": [3, 1, 1]})
    for index, name in enumerate(action_names):
        at = record["time"][record["action"] == index]
        casts.scatter(at, np.full(at.shape, index), s=10, marker="|" if name == "wait" else "o")
    casts.set_yticks(range(len(action_names)), action_names, fontsize=8)
    casts.set_title("One fight: casts, resources, damage")
    for index, name in enumerate(resource_names):
        resources.step(record["time"], record["resources"][:, index], where="post", label=name)
    resources.legend(loc="upper right", fontsize=8)
    damage.plot(record["time"], record["damage_done"], color="#c9a227")
    damage.set(xlabel="time (s)", ylabel="damage")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def route_pulls(summary: dict, path: Path) -> None:
    """Per pull: travel and fight time, stacked along the route, against the timer."""
    route = summary["route"]
    pulls = route["pulls"]
    figure, axis = _subplots(figsize=(10, 0.35 * len(pulls) + 1.5))
    start = 0.0
    for index, pull in enumerate(pulls):
        duration = pull["duration_mean"] or 0.0
        axis.barh(index, pull["travel_before"], left=start, color="#bbbbbb")
        axis.barh(index, duration, left=start + pull["travel_before"], color="#b22222" if pull["boss"] else "#c9a227")
        start += pull["travel_before"] + duration
    axis.axvline(route["timer"], color="black", linestyle="--", label=f"timer {route['timer']:.0f} s")
    axis.set_yticks(range(len(pulls)), [p["name"] for p in pulls], fontsize=8)
    axis.invert_yaxis()
    axis.set(xlabel="time (s)", title=f"Route at +{route['key_level']}: travel (grey), pulls, bosses (red)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def write_report(directory: Path, summary: dict, record: dict, action_names, resource_names) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "summary.json", directory / "dps_distribution.png",
               directory / "damage_by_ability.png", directory / "timeline.png"]
    written[0].write_text(json.dumps(summary, indent=2))
    dps_distribution(summary, written[1])
    damage_by_ability(summary, written[2])
    timeline(record, action_names, resource_names, written[3])
    if "route" in summary:
        written.append(directory / "route_pulls.png")
        route_pulls(summary, written[-1])
    return written


LEARNING_CURVES = (
    ("learn/loss", "loss"), ("learn/policy_entropy", "policy entropy"), ("learn/value_error", "value error (abs)"),
    ("learn/policy_agreement", "agreement with search"), ("selfplay/steps_per_second", "self-play decisions/s"),
)


def learning_curves(records: list[dict], path: Path, title: str) -> None:
    """Losses, entropy, value error, speed and self-play results against iterations."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    learning_curves_figure(records, title).savefig(path, dpi=100)


def learning_curves_figure(records: list[dict], title: str) -> Figure:
    fights = sorted({name.split("/")[1] for record in records for name in record
                     if name.startswith("selfplay/") and name.count("/") == 2})
    panels = list(LEARNING_CURVES) + [(f"selfplay/{fight}/{measure}", _panel_title(fight, label))
                                      for fight in fights for measure, label in
                                      (("dps", "self-play DPS"), ("clear_time", "clear time (s)"))
                                      if any(record.get(f"selfplay/{fight}/{measure}") is not None
                                             for record in records)]
    columns = 3
    rows = -(-len(panels) // columns)
    # Constrained layout keeps the suptitle and two-line panel titles clear of each other.
    figure = Figure(figsize=(4.2 * columns, 2.9 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis, (name, label) in zip(axes.flat, panels):
        points = [(record["iteration"], record[name]) for record in records if record.get(name) is not None]
        if points:
            axis.plot(*zip(*points), color="#c9a227", marker="." if len(points) < 40 else None)
        axis.set_title(label, fontsize="medium")
        axis.set_xlabel("iteration")
        if name == "selfplay/steps_per_second" and points:
            axis.set_yscale("log")  # imitation and search iterations differ by ~30x
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    figure.suptitle(title)
    return figure


def _panel_title(fight: str, measure: str, width: int = 40) -> str:
    """A fight's panel title, wrapped at its options' commas so that long names
    ("route:sample_keystone,own_damage=1") stay inside their panel's width."""
    return textwrap.fill(f"{fight.replace(',', ', ')}: {measure}", width)


def evaluation_bars(result: dict, path: Path) -> None:
    """One panel per fight: each policy's paired difference to the APL (percent of the APL's
    episode, 95 % interval; the better direction is up in every panel)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fights = result["fights"]
    figure, axes = _subplots(1, len(fights), figsize=(4.6 * len(fights), 3.6), squeeze=False)
    for axis, fight in zip(axes.flat, fights):
        measure = fight["objective"]
        labels = list(fight.get("paired", {}))
        flip = -1.0 if measure == "clear_time" else 1.0   # faster clears drawn upward
        stats = [fight["paired"][label][measure]["percent"] for label in labels]
        means = np.array([flip * s["mean"] for s in stats])
        errors = np.array([[s["half_width"] for s in stats], [s["half_width"] for s in stats]])
        errors = np.nan_to_num(errors)
        colours = ["#3a7d44" if fight["paired"][label][measure]["better"] else
                   "#a23b2a" if fight["paired"][label][measure]["worse"] else "#c9a227" for label in labels]
        axis.bar(range(len(labels)), means, yerr=errors, capsize=4, color=colours, edgecolor="#333333")
        axis.axhline(0.0, color="#333333", linewidth=0.8)
        axis.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
        axis.set(title=f"{fight['fight']} (n={fight.get('episodes', '?')})",
                 ylabel="DPS vs APL, % (higher is better)" if measure == "dps"
                 else "clear time vs APL, % faster (higher is better)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
