"""The Portunus combat simulator: pure JAX functions over fixed-shape fight states.

Public API:
    env = sim.make(spec, profile, fight, expected_value=False)
    state = env.init(key); state = env.step(state, action)
    env.observation(state), state.legal_action_mask, state.reward, state.terminated
    state = sim.from_snapshot(env, game_snapshot)   # live game state (portunus.protocol)
    states = sim.sample_beliefs(env, game_snapshot, 8)   # states consistent with what is known
    belief = sim.ParticleBelief(env); belief.update(game_snapshot); belief.sample(game_snapshot, 4)
                                                     # ... that also follows the player's casts
    live = sim.FollowedBelief(env); live.states(game_snapshot, 4)   # the same across live refreshes
    sim.jit(fun)   # jax.jit with the simulator's XLA options (sim/_xla.py): for whatever steps it
"""

from sim._xla import jit
from sim.env import Env, make
from sim.fights import Fight, aoe, load_route, parse_route, patchwerk
from sim.spec import Spec, compile_spec, load_spec
from sim.snapshot import from_snapshot, live_env, sample_snapshots, to_snapshot
from sim.belief import sample_beliefs
from sim.particles import FollowedBelief, ParticleBelief
from sim.stats import profile_stats
from sim.types import FightTables, PlayerStats, SpecTables, State

__all__ = [
    "Env", "make", "jit", "Fight", "aoe", "patchwerk", "load_route", "parse_route",
    "Spec", "compile_spec", "load_spec", "profile_stats", "from_snapshot", "to_snapshot", "live_env", "sample_snapshots",
    "sample_beliefs", "ParticleBelief", "FollowedBelief",
    "FightTables", "PlayerStats", "SpecTables", "State",
]
