"""Summaries of finished fights, as plain dicts (printed by the CLI, saved as JSON)."""

from __future__ import annotations

import math

import jax
import numpy as np

from sim.env import Env
from sim.types import State


def mean_and_error(values: np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its 95 % confidence interval (normal approximation)."""
    values = np.asarray(values, np.float64)
    if values.size < 2:
        return float(values.mean()), 0.0
    return float(values.mean()), float(1.96 * values.std(ddof=1) / math.sqrt(values.size))


def summarize(env: Env, states: State) -> dict:
    """SimC-like numbers over a batch of finished fights (leading axis = iteration)."""
    s = jax.tree.map(np.asarray, states.replace(key=None))
    spec, fight = env.spec, env.fight
    iterations = int(s.time.shape[0])
    length = np.maximum(s.time, 1e-6)
    dps = s.damage_done / length
    dps_mean, dps_error = mean_and_error(dps)
    length_mean, length_error = mean_and_error(length)
    total_damage = float(s.damage_by_source.sum())

    abilities = []
    casts = s.casts.mean(axis=0)
    for index, name in enumerate(spec.source_names):
        damage = float(s.damage_by_source[:, index].mean())
        count = float(casts[index]) if index < spec.num_abilities else None
        if damage == 0.0 and not count:
            continue
        abilities.append({
            "name": name,
            "label": spec.source_labels[index],
            "damage_per_iteration": damage,
            "dps": float((s.damage_by_source[:, index] / length).mean()),
            "share": float(s.damage_by_source[:, index].sum() / total_damage) if total_damage else 0.0,
            "casts_per_iteration": count,
            "damage_per_cast": damage / count if count else None,
        })
    abilities.sort(key=lambda row: -row["damage_per_iteration"])
    summary = {
        "spec": spec.name,
        "fight": fight.name,
        "fight_kind": fight.kind,
        "iterations": iterations,
        "expected_value_mode": env.expected_value,
        "dps": {"mean": dps_mean, "error_95": dps_error, "min": float(dps.min()), "max": float(dps.max()),
                "per_iteration": [float(x) for x in dps]},
        "fight_length": {"mean": length_mean, "error_95": length_error},
        "damage_per_iteration": float(s.damage_done.mean()),
        "waits_per_iteration": float(casts[spec.num_abilities]),
        "finished": float(s.terminated.mean()),
        "abilities": abilities,
    }
    if fight.kind == "route":
        cleared = (s.pull_clear_time[:, -1] >= 0)
        clear_time = np.where(cleared, s.time, np.nan)
        pulls = []
        starts = np.zeros(iterations)
        for index, name in enumerate(fight.pull_names):
            done = s.pull_clear_time[:, index]
            start = starts + float(fight.pull_travel[index])
            duration = np.where(done >= 0, done - start, np.nan)
            pulls.append({
                "name": name, "boss": fight.pull_is_boss[index], "enemies": int((fight.pull_health[index] > 0).sum()),
                "travel_before": float(fight.pull_travel[index]),
                "duration_mean": float(np.nanmean(duration)) if np.isfinite(duration).any() else None,
                "cleared_at_mean": float(np.nanmean(np.where(done >= 0, done, np.nan))) if (done >= 0).any() else None,
                "cleared_share": float((done >= 0).mean()),
            })
            starts = np.where(done >= 0, done, starts)
        timed = clear_time[cleared]
        summary["route"] = {
            "timer": float(fight.time_limit),
            "key_level": fight.key_level,
            "cleared_share": float(cleared.mean()),
            "clear_time": ({"mean": mean_and_error(timed)[0], "error_95": mean_and_error(timed)[1]}
                           if timed.size else None),
            "player_damage_share": float(s.damage_done.sum() / max((s.damage_done + s.group_damage).sum(), 1.0)),
            "pulls": pulls,
        }
    return summary
