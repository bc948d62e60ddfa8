"""Retribution Paladin rules that are code rather than data."""

import jax.numpy as jnp

from sim.spec import SpecHooks


def mastery_multiplier(stats, tables):
    """Mastery: Highlord's Judgment (267316) in 12.0 is a flat damage bonus.

    +1.35 % per mastery point on Ret's direct and periodic damage, i.e. on
    every source flagged `mastery = true` in the data file.
    """
    bonus = stats.mastery_points * tables.mastery_per_point
    return jnp.where(tables.source_mastery, 1.0 + bonus, 1.0)


HOOKS = SpecHooks(mastery_multiplier=mastery_multiplier)
