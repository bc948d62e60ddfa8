"""Retribution Paladin rules that are code rather than data."""

import jax.numpy as jnp

from sim.spec import SpecHooks


def mastery_multiplier(mastery_points, tables):
    """Mastery: Highlord's Judgment (267316#1/#2) in 12.0 is a flat damage bonus.

    +1.35 % per mastery point on Ret's direct and periodic damage, i.e. on every source
    flagged `mastery = true` in the data file, counted `mastery_scale` times (Highlord's
    Wrath applies it once more at half strength on Judgment and Hammer of Wrath: 1.5).
    """
    bonus = mastery_points * tables.mastery_per_point
    return jnp.where(tables.source_mastery, 1.0 + bonus * tables.source_mastery_scale, 1.0)


def lights_deliverance(state, spec):
    """Light's Deliverance (425518): at full stacks, while Wake of Ashes and Hammer of Light
    are both unavailable, the stacks become a free Hammer of Light (433732) that can be cast
    at once (SimC: the free buff and a Hammer of Light ready stack; the stacks reset)."""
    names = spec.buff_names
    if "lights_deliverance" not in names or not spec.talent("lights_deliverance"):
        return state
    from sim import engine

    t = engine.spec_tables(state, spec)
    rank = engine.batch_rank(state)
    stacks, ready, free = (names.index(n) for n in ("lights_deliverance", "hammer_of_light_ready",
                                                    "hammer_of_light_free"))
    wake = spec.ability_names.index("wake_of_ashes")
    full = (state.buff_stacks[stacks] >= t.buff_max_stacks[stacks]) & (state.buff_remaining[stacks] > 0)
    unavailable = (state.buff_remaining[ready] <= 0) & (state.charges[wake] < 1)
    convert = full & unavailable
    buffs = engine.iota(len(names), rank)
    granted = (buffs == ready) | (buffs == free)
    state = engine.grant(state, spec, (granted & convert).astype(jnp.float32), granted & convert,
                         jnp.zeros_like(state.charges, bool))
    used = (buffs == stacks) & convert
    return state.replace(buff_remaining=jnp.where(used, 0.0, state.buff_remaining),
                         buff_stacks=jnp.where(used, 0, state.buff_stacks))


HOOKS = SpecHooks(mastery_multiplier=mastery_multiplier, after_step=lights_deliverance)
