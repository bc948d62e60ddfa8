"""What the addon can send in retail combat, for a simulated state.

`to_snapshot` is the addon with everything readable (Classic, or out of combat). In retail
combat the game keeps own cooldown remaining times, most own buffs and all enemy health
secret (../shared/reference/wow-12-addon-api.md); what stays readable is the ready flag of
each ability, charge counts of one- and two-charge spells, proc highlights, resources, the
GCD and the enemies' presence. `retail_snapshot` masks a full snapshot the same way, so the
planner can be measured on the view it will really get. `usable` (C_Spell.IsSpellUsable,
readable) is whether the ability is castable on some enemy now. With `since_cast` (seconds
since the player's own last press of each ability, which the addon sees through
UNIT_SPELLCAST_SUCCEEDED; the state does not record it, the caller does), a cooldown that is
not ready gets the addon's estimate: the spec's base cooldown minus that time, flagged
estimated, sent only while positive (docs/protocol.md).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from portunus.protocol import AuraState, GameSnapshot
from sim.env import Env
from sim.snapshot import to_snapshot
from sim.types import State


def retail_snapshot(env: Env, state: State, frame: int = 0, since_cast: np.ndarray | None = None) -> GameSnapshot:
    """The snapshot of `state` (one fight) as retail combat lets the addon read it;
    `since_cast` [A]: seconds since the own last cast of each ability (NaN: not this fight)."""
    full = to_snapshot(env, state, frame)
    s = jax.device_get(state)
    tables = env.spec.tables
    max_charges = np.asarray(tables.max_charges)
    base_cooldown = np.asarray(tables.cooldown)
    makes_free = np.asarray(tables.buff_makes_free)            # [B, A]
    active = np.asarray(s.buff_remaining) > 0
    highlighted = (makes_free & active[:, None]).any(axis=0)   # [A]: a proc lights the button
    legal = np.asarray(s.legal_action_mask)
    usable = np.array([legal[np.asarray(env.spec.action_ability) == a].any()
                       for a in range(env.spec.num_abilities)])
    cooldowns = []
    for index, cooldown in enumerate(full.cooldowns):
        maximum, charges = int(max_charges[index]), int(cooldown.charges)
        ready = charges > 0
        full_charges = charges >= maximum
        since = None if since_cast is None or np.isnan(since_cast[index]) else float(since_cast[index])
        remaining, estimated = (0.0, False) if full_charges else (None, None)  # readable only as "not cooling down"
        if not ready and maximum == 1 and since is not None and base_cooldown[index] - since > 0:
            remaining, estimated = float(base_cooldown[index] - since), True
        cooldowns.append(dataclasses.replace(
            cooldown, remaining=remaining, estimated=estimated, since_cast=since,
            duration=float(base_cooldown[index]) if base_cooldown[index] > 0 else None,
            charges=charges if maximum <= 2 or full_charges or charges == 0 else None,
            max_charges=maximum, ready=ready, usable=bool(usable[index]),
            overlayed=bool(highlighted[index]) if makes_free[:, index].any() else None))
    buffs = tuple(AuraState(None, None) for _ in full.buffs)
    enemies = tuple(dataclasses.replace(enemy, health=None, health_pct=None, max_health=None,
                                        debuffs=tuple(AuraState(None, None) for _ in enemy.debuffs))
                    for enemy in full.enemies)
    return dataclasses.replace(full, cooldowns=tuple(cooldowns), buffs=buffs, enemies=enemies)


def retail_snapshots(count: int, seed: int = 0) -> list[GameSnapshot]:
    """Snapshots of successive decisions of the default APL on Patchwerk as retail combat shows
    them, with the player's own cast times, on the wire's grid (as a decoder would return
    them): what a live overlay reads in combat, for benchmarks."""
    from portunus.protocol import decode_frame, encode_frame
    from sim.apl import load_apl
    from sim.env import make
    from sim._xla import jit

    env = make()
    apl = jit(load_apl(env, warn=None))
    step = jit(env.step)
    owner = np.asarray(env.spec.action_ability)
    state, pressed, snapshots = env.init(jax.random.key(seed)), np.full(env.spec.num_abilities, np.nan), []
    for frame in range(count):
        now = float(state.time)
        snapshots.append(decode_frame(encode_frame(retail_snapshot(env, state, frame, now - pressed))))
        action = int(apl(state))
        if owner[action] < env.spec.num_abilities:
            pressed[owner[action]] = now
        state = step(state, action)
    return snapshots
