"""Retribution Paladin in Mists of Pandaria Classic: the rules that are code.

Hand of Light (the mastery) uses the same shape as Midnight's: a share of the hit per
mastery point on the sources flagged `mastery = true`, so the function is shared.
"""

from sim.spec import SpecHooks
from sim.specs.retribution_paladin import mastery_multiplier

HOOKS = SpecHooks(mastery_multiplier=mastery_multiplier)
