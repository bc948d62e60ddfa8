"""What the retail view costs: the same policy fed the full state or what retail combat shows.

Every episode is played once per view on the same start (paired): the policy chooses from
(`full`) the simulator's state, (`retail`) the one-guess state `from_snapshot` builds from
the retail snapshot (`sim.retail`), or several states consistent with it: (`retail_belief`)
drawn afresh by rules (`sim.sample_beliefs`), or (`retail_particles`) copies of the fight
that replay the player's own casts (`sim.particles.ParticleBelief`, one per episode); the APL
votes over them, search merges. The retail views know the player's own
casts (the addon reads them), so estimated cooldowns and own-applied debuffs can be used. The true fight steps with the chosen
action; an action the game would refuse (a cooldown the view guessed ready) is a wasted
press (the simulator's illegal action: a short wait). Two reference rows play the same
episodes: `apl_retail_belief` and `apl_retail_particles` (the default APL voting over each
belief, when the policy is search) and `assistant` (the game's own Assisted Combat pick, which the client computes
from the full state: `[spec] assisted_combat_apl`). Reported: each row's mean damage, its
damage per episode, and the paired differences to the full view and to the game's pick with
their 95 % intervals.
"""

from __future__ import annotations

from typing import Callable

import jax
import numpy as np

import sim
from sim._xla import jit
from sim.apl import load_apl, shipped_apl_path
from sim.belief import belief_votes, buff_uptime, sample_beliefs
from sim.env import Env
from sim.particles import ParticleBelief
from sim.retail import retail_snapshot
from sim.snapshot import from_snapshot
from train.evaluate import episode_keys, interval, paired

VIEWS = ("full", "retail", "retail_belief", "retail_particles")
REFERENCES = ("apl_retail_belief", "apl_retail_particles", "assistant")
POLICIES = ("apl", "mcts")
PARTICLES = 32     # copies of the fight a particle belief follows


def rows_for(policy: str) -> tuple[str, ...]:
    """The policy's three views, then the reference rows it is not already."""
    return VIEWS + tuple(row for row in REFERENCES if not (policy == "apl" and row.startswith("apl_")))


def _chooser(env: Env, policy: str, view: str, simulations: int, samples: int) -> Callable:
    """(true state, episode index, decision index) -> action."""
    import search

    if view == "assistant":
        policy, view = "assistant", "full"
    elif view in ("apl_retail_belief", "apl_retail_particles"):
        policy, view = "apl", view.removeprefix("apl_")
    rotation = load_apl(env, shipped_apl_path(env, "assisted") if policy == "assistant" else None, warn=None)
    apl, vote = jit(rotation), jit(jax.vmap(rotation))
    planner = search.Planner(env, search.SearchConfig(num_simulations=simulations)) if policy == "mcts" else None
    prior = buff_uptime(env) if view == "retail_belief" else None

    def batch(state):
        return jax.tree.map(lambda x: x[None], state)

    particles: dict[int, ParticleBelief] = {}

    def choose(state, episode: int, decision: int, since_cast: np.ndarray) -> int:
        if view == "full":
            seen = state
        else:
            snapshot = retail_snapshot(env, state, decision, since_cast)
            if view == "retail":
                seen = from_snapshot(env, snapshot)
            elif view == "retail_particles":
                if episode not in particles:       # combat starts: a new belief
                    particles.clear()
                    particles[episode] = ParticleBelief(env, PARTICLES, seed=episode)
                belief = particles[episode]
                belief.update(snapshot)
                beliefs = belief.sample(snapshot, samples)
                if planner is not None:
                    return int(planner.recommend_belief(beliefs, jax.random.key(decision)).best_action[0])
                votes = belief_votes(vote(beliefs), beliefs.legal_action_mask)
                return int(votes.argmax()) if votes.any() else env.wait_action
            else:
                beliefs = sample_beliefs(env, snapshot, samples, seed=episode * 100_003 + decision,
                                         buff_prior=prior)
                if planner is not None:
                    return int(planner.recommend_belief(beliefs, jax.random.key(decision)).best_action[0])
                votes = belief_votes(vote(beliefs), beliefs.legal_action_mask)
                return int(votes.argmax()) if votes.any() else env.wait_action
        if planner is not None:
            return int(planner.recommend(batch(seen), jax.random.key(decision)).best_action[0])
        return int(apl(seen))

    return choose


def play_views(env: Env, policy: str = "apl", views=None, episodes: int = 8, seed: int = 0,
               simulations: int = 64, samples: int = 4, on_episode: Callable[[str, int], None] | None = None) -> dict:
    """Each row's damage per episode (default rows: `rows_for(policy)`), the same episode
    starts for every row."""
    views = rows_for(policy) if views is None else views
    step = jit(env.step)
    keys = episode_keys(seed, 0, episodes)
    damage: dict[str, np.ndarray] = {}
    wasted: dict[str, int] = {}
    for view in views:
        choose = _chooser(env, policy, view, simulations, samples)
        totals, refused = [], 0
        for episode in range(episodes):
            state = env.init(keys[episode])
            decision = 0
            pressed = np.full(env.spec.num_abilities, np.nan)     # own casts, as the addon sees them
            while not bool(state.terminated):
                now = float(state.time)
                action = choose(state, episode, decision, now - pressed)
                state = step(state, action)
                refused += int(state.illegal_action)
                ability = int(env.spec.action_ability[action])
                if ability < env.spec.num_abilities and not bool(state.illegal_action):
                    pressed[ability] = now
                decision += 1
            totals.append(float(state.damage_done))
            if on_episode is not None:
                on_episode(view, episode + 1)
        damage[view], wasted[view] = np.asarray(totals), refused
    results = {view: {"damage": interval(values), "episode_damage": [float(v) for v in values],
                      "refused_presses": wasted[view]} for view, values in damage.items()}
    for reference in ("full", "assistant"):
        if reference in damage:
            for view, values in damage.items():
                if view != reference:
                    results[view][f"versus_{reference}"] = paired(values, damage[reference], lower_is_better=False)
    return {"policy": policy, "episodes": episodes, "seed": seed, "simulations": simulations,
            "belief_samples": samples, "particles": PARTICLES, "fight": env.fight.name, "views": results}


def default_env(fight: str = "patchwerk:300") -> Env:
    from train.envs import parse_fight

    return sim.make("retribution_paladin", None, parse_fight(fight, 8))
