"""Pool `portunus bench retail` runs of different seeds into one paired comparison.

    .venv/bin/python scripts/retail_paired.py docs/bench/retail-view-mcts-cpu-2core.json \
        docs/bench/retail-view-mcts-seed1-cpu-2core.json docs/bench/retail-view-mcts-seed2-cpu-2core.json

Each run plays its own episodes (seeds disjoint), every view on the same ones; pooling the
per-episode damage of runs with the same settings gives more pairs, and so tighter paired
intervals, than any one run (README, "What the retail view costs").
"""

from __future__ import annotations

import json
import sys

import numpy as np

from train.evaluate import paired

COMPARED = [("retail_particles", "apl_retail_particles"), ("retail_particles", "apl_retail_belief"),
            ("retail_particles", "retail_belief"), ("apl_retail_particles", "apl_retail_belief")]
SETTINGS = ("policy", "simulations", "belief_samples", "particles", "fight")


def load(path: str) -> dict:
    """One run's JSON, or exit with a line naming the file and what is wrong."""
    try:
        with open(path, encoding="utf-8") as file:
            run = json.load(file)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        sys.exit(f"{path}: not a readable `portunus bench retail` JSON ({error})")
    views = run.get("views") if isinstance(run, dict) else None
    if (not isinstance(views, dict) or any(key not in run for key in SETTINGS + ("seed",)) or not all(
            isinstance(v, dict) and isinstance(v.get("episode_damage"), list) for v in views.values())):
        sys.exit(f"{path}: not a `portunus bench retail` JSON (needs {', '.join(SETTINGS)}, seed, views)")
    return run


def main(paths: list[str]) -> None:
    runs = [load(path) for path in paths]
    for run, path in zip(runs[1:], paths[1:]):
        if any(run[key] != runs[0][key] for key in SETTINGS) or set(run["views"]) != set(runs[0]["views"]):
            sys.exit(f"{path}: other settings or views than {paths[0]} ({', '.join(SETTINGS)} must match)")
    if len({run["seed"] for run in runs}) != len(runs):
        sys.exit("two runs share a seed: their episodes would be counted twice")
    views = list(runs[0]["views"])
    damage = {v: np.concatenate([np.asarray(r["views"][v]["episode_damage"]) for r in runs]) for v in views}

    def show(p):
        return f"{p['mean']:+.1f} % [{p['low']:+.1f}, {p['high']:+.1f}] (n={p['n']})"

    for view in views:
        line = f"{view:22s} {damage[view].mean() / 1e6:6.2f} M"
        for other in ("full", "assistant"):
            if view != other and other in damage:
                line += f" | vs {other} " + show(paired(damage[view], damage[other], lower_is_better=False)["percent"])
        print(line)
    for a, b in COMPARED:
        if a in damage and b in damage:
            print(f"{a} vs {b}: " + show(paired(damage[a], damage[b], lower_is_better=False)["percent"]))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
