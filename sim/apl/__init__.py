"""SimC-style action priority lists compiled to jittable JAX policies.

    apl = sim.apl.load_apl(env)                          # the spec's default APL
    apl = sim.apl.load_apl(env, sim.apl.shipped_apl_path(env, "assisted"))   # the game's own pick
    apl = sim.apl.load_apl(env, "simc.simc", profile)    # any APL file, for a character's items
    apl = sim.apl.Apl(text, env, "mine.simc")            # any APL text
    action = apl(state)                                  # jit / vmap as usual
    apl.skipped, apl.warning                             # SimC names Portunus does not model

Pipeline: syntax.py (text -> trees), kit.py (what SimC's names are in a character's kit),
expressions.py (what names mean), compiler.py (trees -> one jittable function).
"""

from sim.apl.compiler import Apl, load_apl, shipped_apl_path
from sim.apl.syntax import AplError, parse_apl, parse_expression

__all__ = ["Apl", "AplError", "load_apl", "parse_apl", "parse_expression", "shipped_apl_path"]
