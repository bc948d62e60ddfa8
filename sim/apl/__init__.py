"""SimC-style action priority lists compiled to jittable JAX policies.

    apl = sim.apl.load_apl(env)                 # the spec's default APL
    apl = sim.apl.Apl(text, env, "mine.simc")   # any APL text
    action = apl(state)                          # jit / vmap as usual
"""

from sim.apl.compiler import Apl, load_apl
from sim.apl.syntax import AplError, parse_apl, parse_expression

__all__ = ["Apl", "AplError", "load_apl", "parse_apl", "parse_expression"]
