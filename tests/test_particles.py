"""A belief that replays the player's own casts (sim/particles.py): its copies follow the
hidden state of the true fight far closer than rules drawn afresh, agree with what the game
shows, and never take away the wait; search over a belief counts each sample's choice."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from sim.apl import load_apl
from sim.belief import buff_uptime, sample_beliefs
from sim.particles import ParticleBelief
from sim.retail import retail_snapshot

pytestmark = pytest.mark.xdist_group("belief")


@pytest.fixture(scope="module")
def env():
    from train.views import default_env

    return default_env("patchwerk:60")


def hidden_error(states, truth) -> float:
    """Mean over samples of the summed absolute error of what retail hides: buff and debuff
    remaining times (seconds) and cooldown recharge times."""
    error = 0.0
    for field in ("buff_remaining", "debuff_remaining", "recharge"):
        seen, true = np.asarray(getattr(states, field)), np.asarray(getattr(truth, field))[None]
        error += float(np.abs(seen - true).reshape(seen.shape[0], -1).sum(axis=1).mean())
    return error


def test_replayed_copies_follow_the_hidden_state_and_agree_with_the_game(env):
    """Along an APL fight seen as retail shows it: after each update the kept copies agree with
    every readable fact at nearly every decision, their hidden buffs, debuffs and cooldowns are
    several times closer to the truth than rules drawn afresh (`sample_beliefs`), the known
    resources are written over them, and the wait stays legal in every one."""
    apl, step = jax.jit(load_apl(env, warn=None)), jax.jit(env.step)
    owner = np.asarray(env.spec.action_ability)
    prior = buff_uptime(env, fights=4, decisions=128)
    belief = ParticleBelief(env, particles=16, seed=1)
    state, pressed = env.init(jax.random.key(5)), np.full(env.spec.num_abilities, np.nan)
    agreed, replay_error, rule_error, decisions = 0, 0.0, 0.0, 0
    while not bool(state.terminated) and decisions < 60:
        view = retail_snapshot(env, state, decisions, float(state.time) - pressed)
        belief.update(view)
        samples = belief.sample(view, 4)
        legal = np.asarray(samples.legal_action_mask)
        assert legal[:, env.wait_action].all()
        for ability, cooldown in enumerate(view.cooldowns):
            if cooldown.usable is False:       # the game refuses it: no sample offers it
                assert not legal[:, owner == ability].any()
        assert (np.asarray(samples.resources) == np.asarray(state.resources)[None]).all()
        agreed += int(belief.disagreements.min() == 0)
        replay_error += hidden_error(samples, state)
        rule_error += hidden_error(sample_beliefs(env, view, 4, seed=decisions, buff_prior=prior), state)
        action = int(apl(state))
        if owner[action] < env.spec.num_abilities:
            pressed[owner[action]] = float(state.time)
        state = step(state, action)
        decisions += 1
    assert decisions >= 40
    assert agreed >= 0.9 * decisions
    assert replay_error < rule_error / 3, (replay_error / decisions, rule_error / decisions)


def test_a_replayed_cast_waits_until_it_happened(env):
    """Casts are replayed at the times the addon saw them: with no casts, the copies wait until
    the snapshot's time exactly; one cast 2 s into the fight is made then, once."""
    from sim.snapshot import to_snapshot

    belief = ParticleBelief(env, particles=4, seed=0)
    start = env.init(jax.random.key(0))
    view = to_snapshot(env, start)
    later = dataclasses.replace(view, combat_time=3.25)
    belief.update(later)
    assert np.allclose(np.asarray(belief.states.time), 3.25, atol=1e-4)
    judgment = env.spec.ability_names.index("judgment")
    cooldowns = list(later.cooldowns)
    cooldowns[judgment] = dataclasses.replace(cooldowns[judgment], since_cast=1.75, remaining=None, charges=None)
    again = ParticleBelief(env, particles=4, seed=0)
    again.update(dataclasses.replace(later, cooldowns=tuple(cooldowns)))
    casts = np.asarray(again.states.casts)[:, judgment]
    assert (casts == 1).all()
    again.update(dataclasses.replace(later, cooldowns=tuple(cooldowns)))   # the same cast again: not replayed
    assert (np.asarray(again.states.casts)[:, judgment] == 1).all()



def test_a_charge_the_game_shows_can_be_cast_at_once(env):
    """The copies cast Execution Sentence (one charge, 60 s) 1.75 s in; at 4 s the game shows it
    ready again (a reset none of them could roll). The charge is written over the copies and
    their legal masks follow it, so the player's cast at that very moment is replayed in every
    copy, not lost as a wait."""
    from sim.snapshot import to_snapshot

    sentence = env.spec.ability_names.index("execution_sentence")
    full = int(env.spec.tables.max_charges[sentence])
    view = to_snapshot(env, env.init(jax.random.key(0)))

    def seen(now: float, cast_at: float, **sentence_fields):
        cooldowns = list(view.cooldowns)
        fields = {"remaining": None, "charges": None, "ready": None, "usable": None, **sentence_fields}
        cooldowns[sentence] = dataclasses.replace(cooldowns[sentence], since_cast=now - cast_at, **fields)
        return dataclasses.replace(view, combat_time=now, cooldowns=tuple(cooldowns))

    belief = ParticleBelief(env, particles=4, seed=0)
    belief.update(seen(3.25, 1.75))
    assert (np.asarray(belief.states.charges)[:, sentence] < full).all()
    belief.update(seen(4.0, 1.75, charges=full, ready=True, usable=True))
    owner = np.asarray(env.spec.action_ability)
    assert np.asarray(belief.states.legal_action_mask)[:, owner == sentence].any(axis=1).all()
    belief.update(seen(5.0, 4.0))
    assert (np.asarray(belief.states.casts)[:, sentence] == 2).all()


def test_a_wait_for_a_given_time_lasts_exactly_that_long(env):
    state = env.init(jax.random.key(0))
    from sim import engine

    after = engine.step(state, env.wait_action, env.spec, env.fight_tables, False, wait_for=2.5)
    assert float(after.time) == pytest.approx(2.5, abs=1e-5)
    plain = engine.step(state, env.wait_action, env.spec, env.fight_tables, False)
    assert float(plain.time) != pytest.approx(2.5, abs=1e-3)


def test_a_particle_belief_refuses_what_it_cannot_follow(env):
    import sim

    with pytest.raises(ValueError, match="at least 1 particle"):
        ParticleBelief(env, particles=0)
    with pytest.raises(ValueError, match="random simulator"):
        ParticleBelief(sim.make(fight=env.fight, expected_value=True))
    with pytest.raises(ValueError, match="samples"):
        ParticleBelief(env, particles=2).sample(retail_snapshot(env, env.init(jax.random.key(0))), 0)


def test_a_belief_takes_the_action_most_samples_chose():
    """Four samples whose searches all chose action 2, while the visits summed favour action 1
    (Gumbel spends visits on the actions it drops): the merged choice is 2; an action one
    sample does not allow is never chosen, however many votes it has."""
    from search.planner import merge_belief
    from search.types import Recommendation

    visits = np.array([[0, 9, 6, 1]] * 4)
    legal = np.ones((4, 4), bool)
    recommendation = Recommendation(
        action_names=("a", "b", "c", "wait"), best_action=np.array([2, 2, 2, 2]), hold_action=np.array([1] * 4),
        visit_counts=visits, q_values=np.full((4, 4), 0.5), prior=np.full((4, 4), 0.25),
        action_weights=np.full((4, 4), 0.25), legal=legal, trees=[{}] * 4, search_seconds=0.0, num_simulations=16)
    merged = merge_belief(recommendation, np.zeros(4, bool))
    assert int(merged.best_action[0]) == 2
    legal[3, 2] = False
    vetoed = merge_belief(dataclasses.replace(recommendation, legal=legal), np.zeros(4, bool))
    assert int(vetoed.best_action[0]) == 1


def test_the_live_belief_fills_hidden_values_from_copies_that_follow_combat():
    """`FollowedBelief` (what the overlay keeps across refreshes) along a retail view of an APL
    fight: known values stay as the game shows them, the hidden ones come from the copies and
    are several times closer to the truth than rules drawn afresh; the same frame read again
    is not replayed twice; combat restarting (its clock going back) starts new copies, and out
    of combat there are none."""
    import sim
    from sim.particles import FollowedBelief

    env = sim.make(fight=sim.patchwerk(60.0, bloodlust_at=None))   # the copies cannot read Bloodlust
    apl, step = jax.jit(load_apl(env, warn=None)), jax.jit(env.step)
    owner = np.asarray(env.spec.action_ability)
    prior = buff_uptime(env, fights=4, decisions=128)
    follow = FollowedBelief(env, particles=16, seed=1)
    state, pressed = env.init(jax.random.key(5)), np.full(env.spec.num_abilities, np.nan)
    followed_error, rule_error, decisions = 0.0, 0.0, 0
    while not bool(state.terminated) and decisions < 40:
        view = retail_snapshot(env, state, decisions, float(state.time) - pressed)
        states = follow.states(view, 4, buff_prior=prior)
        assert (np.asarray(states.resources) == np.asarray(state.resources)[None]).all()
        for ability, cooldown in enumerate(view.cooldowns):
            if cooldown.charges is not None:
                assert (np.asarray(states.charges)[:, ability] == cooldown.charges).all()
        followed_error += hidden_error(states, state)
        rule_error += hidden_error(sample_beliefs(env, view, 4, seed=view.frame, buff_prior=prior), state)
        action = int(apl(state))
        if owner[action] < env.spec.num_abilities:
            pressed[owner[action]] = float(state.time)
        state = step(state, action)
        decisions += 1
    assert followed_error < rule_error / 10, (followed_error / decisions, rule_error / decisions)

    copies, at = follow.belief, np.asarray(follow.belief.states.time).copy()
    follow.states(view, 4, buff_prior=prior)                       # the same frame again
    assert follow.belief is copies and (np.asarray(copies.states.time) == at).all()
    follow.states(dataclasses.replace(view, frame=view.frame + 1, combat_time=1.0,
                                      cooldowns=tuple(dataclasses.replace(c, since_cast=None) for c in view.cooldowns)), 4)
    assert follow.belief is not copies and np.allclose(np.asarray(follow.belief.states.time), 1.0, atol=1e-3)
    follow.states(dataclasses.replace(view, in_combat=False), 4)
    assert follow.belief is None


def test_the_overlay_follows_the_fight_across_refreshes():
    """The planner thread keeps one live belief while combat goes on (its copies at the
    snapshot's combat time after each refresh) and none when particles are turned off."""
    import sim
    from overlay.recommender import Recommender
    from overlay.sources import OK, Reading
    from overlay.worker import PlannerWorker, Settings

    env = sim.live_env()
    truth = sim.make(fight=sim.patchwerk(60.0, bloodlust_at=None))
    step, apl = jax.jit(truth.step), jax.jit(load_apl(truth, warn=None))
    state = truth.init(jax.random.key(2))
    views = []
    for decision in range(3):
        views.append(retail_snapshot(truth, state, decision))
        state = step(state, apl(state))

    class Replay:
        def __init__(self):
            self.index = -1

        def read(self):
            self.index += 1
            return Reading(OK, views[self.index], 0.0, 0.0)

    worker = PlannerWorker(env, Recommender(env), Replay(), Settings(mode="apl", belief_samples=4, belief_particles=8))
    for view in views:
        result = worker.refresh()
        assert result.error == "" and result.advice.best in env.spec.action_names
        assert np.allclose(np.asarray(worker._followed.belief.states.time), view.combat_time, atol=1e-3)
    rules = PlannerWorker(env, Recommender(env), Replay(), Settings(mode="apl", belief_samples=4, belief_particles=0))
    assert rules.refresh().error == "" and rules._followed is None
