"""What the addon can send in retail combat, for a simulated state.

`to_snapshot` is the addon with everything readable (Classic, or out of combat). In retail
combat the game keeps own cooldown remaining times, most own buffs and all enemy health
secret (../shared/reference/wow-12-addon-api.md); what stays readable is the ready flag of
each ability, charge counts of one- and two-charge spells, proc highlights, resources, the
GCD and the enemies' presence. `retail_snapshot` masks a full snapshot the same way, so the
planner can be measured on the view it will really get. `usable` (C_Spell.IsSpellUsable,
readable) is whether the ability is castable on some enemy now. It is the pessimistic addon
otherwise: no own-cast estimates of remaining times (the state does not record cast times).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from portunus.protocol import AuraState, GameSnapshot
from sim.env import Env
from sim.snapshot import to_snapshot
from sim.types import State


def retail_snapshot(env: Env, state: State, frame: int = 0) -> GameSnapshot:
    """The snapshot of `state` (one fight) as retail combat lets the addon read it."""
    full = to_snapshot(env, state, frame)
    s = jax.device_get(state)
    tables = env.spec.tables
    max_charges = np.asarray(tables.max_charges)
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
        cooldowns.append(dataclasses.replace(
            cooldown,
            remaining=0.0 if full_charges else None,            # readable only as "not cooling down"
            charges=charges if maximum <= 2 or full_charges or charges == 0 else None,
            max_charges=maximum, ready=ready, usable=bool(usable[index]),
            overlayed=bool(highlighted[index]) if makes_free[:, index].any() else None))
    buffs = tuple(AuraState(None, None) for _ in full.buffs)
    enemies = tuple(dataclasses.replace(enemy, health=None, health_pct=None, max_health=None,
                                        debuffs=tuple(AuraState(None, None) for _ in enemy.debuffs))
                    for enemy in full.enemies)
    return dataclasses.replace(full, cooldowns=tuple(cooldowns), buffs=buffs, enemies=enemies)
