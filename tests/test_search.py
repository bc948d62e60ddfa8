"""Search over the simulator: known answers, legality, the tree export, and search vs its APL."""

import jax
import jax.numpy as jnp
import mctx
import numpy as np
import pytest

import sim
import search
from search.types import SearchConfig
from sim.apl import load_apl
from tests.conftest import make_test_env, character_dps, with_resources

POLICIES = ("gumbel", "muzero")


def planner(env, policy, simulations=64, **settings):
    return search.Planner(env, SearchConfig(policy=policy, num_simulations=simulations, **settings))


def batch(state):
    return jax.tree.map(lambda x: x[None], state)


def on_cooldown(env, state, *names, remaining=50.0):
    for name in names:
        index = env.spec.ability_names.index(name)
        state = state.replace(charges=state.charges.at[index].set(0), recharge=state.recharge.at[index].set(remaining))
    return state.replace(legal_action_mask=env.legal_action_mask(state))


@pytest.fixture(scope="module")
def patchwerk(test_profile):
    return make_test_env(test_profile, nominal_dps=character_dps())


@pytest.mark.parametrize("policy", POLICIES)
def test_big_cooldown_before_the_fight_ends(patchwerk, policy):
    """One GCD left and Wake of Ashes ready: use it now, there is no later."""
    env = patchwerk
    state = env.init(jax.random.key(0)).replace(time=jnp.float32(298.6))
    state = on_cooldown(env, state, "avenging_wrath", "execution_sentence")
    # PUCT values unvisited actions at the minimum, so with a uniform prior it tries the
    # 7th action only after ~32 simulations; Gumbel's sequential halving tries them all.
    simulations = 256 if policy == "muzero" else 64
    recommendation = planner(env, policy, simulations, prior="uniform").recommend(batch(state))
    assert env.spec.action_names[int(recommendation.best_action[0])] == "wake_of_ashes"
    # The hold-cooldowns alternative is no major cooldown.
    hold = env.spec.action_names[int(recommendation.hold_action[0])]
    assert hold not in env.spec.settings["major_cooldowns"] and hold != "wake_of_ashes"


@pytest.mark.parametrize("policy", POLICIES)
def test_spend_at_full_holy_power(patchwerk, policy):
    env = patchwerk
    # Judgment and Blade of Justice too (with Greater Judgment, Judgment first can be as good), and
    # Crusader Strike at one of two charges: generating now only wastes the Holy Power it makes.
    state = on_cooldown(env, with_resources(env, env.init(jax.random.key(0)), 5),
                        "avenging_wrath", "wake_of_ashes", "divine_toll", "execution_sentence", "judgment",
                        "blade_of_justice")
    strike = env.spec.ability_names.index("crusader_strike")
    state = state.replace(charges=state.charges.at[strike].set(1), recharge=state.recharge.at[strike].set(3.0))
    state = state.replace(legal_action_mask=env.legal_action_mask(state))
    # The four choices' values lie within 0.3 % of each other: 64 simulations can rank wait first.
    recommendation = planner(env, policy, 256, prior="uniform").recommend(batch(state))
    assert env.spec.action_names[int(recommendation.best_action[0])] == "final_verdict@0"


HOLD_ROUTE = """
timer = 300
group_dps = 600000
[[pull]]
name = "last straggler"
enemies = [ { name = "Straggler", health = 900000 } ]
[[pull]]
name = "big pack"
travel = 2
enemies = [ { name = "Cultist", health = 25000000, count = 8 } ]
"""


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("prior", ["uniform", "apl"])
def test_hold_wake_of_ashes_for_the_next_pull(test_profile, policy, prior):
    """One enemy about to die, eight arriving in 2 s: Wake of Ashes should wait for the eight."""
    env = make_test_env(test_profile, sim.parse_route(HOLD_ROUTE, "hold.toml"), nominal_dps=character_dps())
    state = on_cooldown(env, env.init(jax.random.key(0)), "avenging_wrath", "divine_toll", "execution_sentence")
    recommendation = planner(env, policy, simulations=128, prior=prior).recommend(batch(state))
    best = env.spec.action_names[int(recommendation.best_action[0])]
    assert best != "wake_of_ashes", recommendation.ranked(0)


@pytest.mark.parametrize("policy", POLICIES)
def test_recommendations_are_legal_and_the_tree_matches_mctx(policy):
    env = sim.make(fight=sim.aoe(targets=4, health_per_target=200_000.0))
    apl = load_apl(env)
    states = jax.vmap(env.init)(jax.random.split(jax.random.key(1), 8))

    def advance(state, steps):
        return jax.lax.fori_loop(0, steps, lambda i, s: env.step(s, apl(s)), state)

    states = jax.jit(jax.vmap(advance, in_axes=(0, None)))(states, 12)
    plan = planner(env, policy, simulations=32)
    output = plan.run(states, jax.random.key(2))
    recommendation = plan.recommend(states, jax.random.key(2), tree_depth=3)
    legal = np.asarray(states.legal_action_mask)
    for index in range(8):
        assert legal[index, recommendation.best_action[index]]
        assert recommendation.hold_action[index] == -1 or legal[index, recommendation.hold_action[index]]
        assert recommendation.visit_counts[index].sum() == 32
        assert (recommendation.visit_counts[index][~legal[index]] == 0).all()
        assert all(row["name"] in env.spec.action_names for row in recommendation.ranked(index))
    tree = jax.tree.map(np.asarray, output.search_tree.replace(embeddings=None))

    def check(node, node_index, index):
        assert node["visits"] == tree.node_visits[index, node_index]
        for child in node["children"]:
            child_index = tree.children_index[index, node_index, child["action"]]
            assert child["visits"] == tree.children_visits[index, node_index, child["action"]]
            assert legal[index, child["action"]] or node_index != mctx.Tree.ROOT_INDEX
            check(child, child_index, index)

    for index in range(8):
        exported = recommendation.trees[index]
        assert exported["visits"] == 33  # the root's own evaluation plus 32 simulations
        assert [c["visits"] for c in exported["children"]] == sorted(
            [c["visits"] for c in exported["children"]], reverse=True)
        check(exported, mctx.Tree.ROOT_INDEX, index)


def test_search_is_not_worse_than_its_apl(test_profile):
    """Expected-value mode, fixed seeds: playing search's choice at every decision deals at
    least as much damage as the APL it rolls out with."""
    env = make_test_env(test_profile, sim.patchwerk(duration=45.0), nominal_dps=character_dps())
    apl = load_apl(env)
    plan = planner(env, "gumbel", simulations=32)
    step = jax.jit(env.step)

    def play(choose):
        state = env.init(jax.random.key(7))
        while not bool(state.terminated):
            state = step(state, choose(state))
        return float(state.damage_done)

    by_apl = play(lambda s: int(jax.jit(apl)(s)))
    by_search = play(lambda s: int(plan.recommend(batch(s), tree_depth=0).best_action[0]))
    assert by_search >= by_apl * 0.999, (by_search, by_apl)


def test_bad_config_is_an_error():
    with pytest.raises(Exception, match="policy must be one of"):
        SearchConfig(policy="alphago").validate()
    with pytest.raises(Exception, match="num_simulations"):
        SearchConfig(num_simulations=0).validate()
    with pytest.raises(Exception, match="needs the random simulator"):
        SearchConfig(worlds=8).validate()


# A two-button toy (under Ret's name, so the shipped character fits it): `steady` deals 1 x AP,
# `gamble` has a 50 % chance of a 1.5 x AP jackpot. No crits, mastery or haste.
GAMBLER = """
[spec]
name = "retribution_paladin"
class = "paladin"
spec = "retribution"
primary_stat = "strength"
base_primary_stat = 1000.0
base_crit = 0.0
crit_damage_multiplier = 2.0
mastery_base_points = 0.0
mastery_per_point = 0.0
rating_per_percent = { crit = 1e9, haste = 1e9, mastery = 1e9, versatility = 1e9 }
gcd_floor = 0.75
target_slots = 1
nominal_dps = 1000.0

[[resource]]
name = "holy_power"
max = 5

[auto_attack]
weapon_speed = 3.6
damage_multiplier = 0.0

[[ability]]
name = "steady"
coefficient = 1.0
school = "holy"

[[ability]]
name = "gamble"
school = "holy"

[[spell]]
name = "jackpot"
coefficient = 1.5
school = "holy"

[[proc]]
name = "jackpot"
trigger = ["gamble"]
chance = 0.5
deals = { jackpot = 1 }
"""


@pytest.fixture(scope="module")
def gambler(test_profile):
    from sim.spec import compile_spec

    env = sim.make(compile_spec(GAMBLER, "gambler.toml"), test_profile, sim.patchwerk(duration=3.0), raid_buffs=False)
    state = env.init(jax.random.key(1))
    # The expected-value model's accumulator stands at 0.6: its next gamble pays for sure.
    return env, state.replace(proc_accumulator=state.proc_accumulator.at[0].set(0.6))


def toy_planner(env, **settings):
    return search.Planner(env, SearchConfig(num_simulations=8, prior="uniform", rollout_steps=0, **settings),
                          apl=lambda state, key=None: jnp.int32(0))


@pytest.fixture(scope="module")
def futures_planner(gambler):
    return toy_planner(gambler[0], expected_value=False, worlds=64)


def test_sampled_futures_pick_the_higher_true_expectation_where_the_determinized_search_does_not(gambler,
                                                                                                futures_planner):
    """Two GCDs left. True expectations (played on the random simulator from 4096 keys): steady
    first 2 AP, gamble first 0.75 + 1 AP. The expected-value model, whose proc is due, sees a
    certain jackpot; search over sampled futures averages it out."""
    env, state = gambler
    steady, gamble = env.spec.action_names.index("steady"), env.spec.action_names.index("gamble")

    def damage_after(first, key):
        played = env.step(env.step(state.replace(key=key), first), steady)
        return played.damage_done

    keys = jax.random.split(jax.random.key(7), 4096)
    played = jax.jit(jax.vmap(damage_after, in_axes=(None, 0)))
    true_steady, true_gamble = (float(played(jnp.int32(first), keys).mean()) for first in (steady, gamble))
    assert true_steady > true_gamble * 1.1

    determinized = toy_planner(env).recommend(batch(state), jax.random.key(0))
    assert determinized.best_action[0] == gamble
    futures = futures_planner.recommend(batch(state), jax.random.key(0))
    assert futures.best_action[0] == steady
    assert futures.visit_counts[0].sum() == 8 * 64
    assert futures.q_values[0, steady] > futures.q_values[0, gamble]


def test_sampled_futures_never_read_the_states_own_key(gambler, futures_planner):
    """In the simulator a state's key is its episode's actual future; search must not see it."""
    env, state = gambler
    planner = futures_planner
    one = planner.recommend(batch(state.replace(key=jax.random.key(11))), jax.random.key(0))
    other = planner.recommend(batch(state.replace(key=jax.random.key(12))), jax.random.key(0))
    np.testing.assert_array_equal(one.visit_counts, other.visit_counts)
    np.testing.assert_array_equal(one.q_values, other.q_values)


def test_a_network_supplies_prior_and_value(test_profile):
    """With a network, the root prior is its (masked) policy: here a stub that loves wait."""
    env = sim.make("retribution_paladin", test_profile, sim.patchwerk(), expected_value=True)
    logits = jnp.zeros(env.num_actions).at[env.wait_action].set(3.0).at[0].set(1.0)
    plan = search.Planner(env, SearchConfig(num_simulations=8), apply_fn=lambda params, obs: (logits + params, 0.5),
                          params=jnp.float32(0.0))
    state = env.init(jax.random.key(0))
    recommendation = plan.recommend(batch(state))
    legal = np.asarray(state.legal_action_mask)
    expected = np.where(legal, np.exp(np.asarray(logits)), 0.0)
    np.testing.assert_allclose(recommendation.prior[0], expected / expected.sum(), rtol=1e-5)


def test_search_with_the_flax_network_runs():
    from train.network import init_network

    env = sim.make(fight=sim.patchwerk(duration=60.0))
    module, params = init_network(env, jax.random.key(0), width=32, blocks=1)
    plan = search.Planner(env, SearchConfig(num_simulations=16), apply_fn=module.apply, params=params)
    states = jax.vmap(env.init)(jax.random.split(jax.random.key(1), 4))
    recommendation = plan.recommend(states)
    assert recommendation.visit_counts.sum(axis=1).tolist() == [16] * 4


@pytest.mark.parametrize("own_damage_weight", [0.0, 1.0])
def test_clear_time_leaf_value_uses_a_steady_rate_not_the_rollouts(test_profile, own_damage_weight):
    """-(rollout time + the current pull's health at its steady rate + each later pull's health at
    its own rate + travel) x scale: a burst inside the rollout shortens the estimate only by the
    health it removed, and killing an enemy now does not slow down every later pull. A route
    weighted by own damage adds the rollout's damage and the player's share of each pack left, at
    the spec's steady rate for that many enemies against the group's on each."""
    import dataclasses

    from search.evaluator import rollout_value

    for fight in (sim.aoe(targets=4), sim.load_route("short_test")):
        fight = dataclasses.replace(fight, own_damage_weight=own_damage_weight)
        env = sim.make(profile=test_profile, fight=fight)
        apl = load_apl(env)
        state = env.init(jax.random.key(0))
        nominal = float(env.spec.settings["nominal_dps"])
        rate = nominal * np.array([1.0, *env.spec.settings["steady_rate_by_targets"]])   # by enemies alive
        group = np.asarray(fight.group_dps)
        scale = 1.0 / float(env.fight.time_limit)
        for steps in (0, 6):
            end = state
            for _ in range(steps):
                end = env.step(end, apl(end))
            pull = int(end.pull_index)
            alive = int(np.sum(end.enemy_alive))
            health_now = float(jnp.sum(end.enemy_health * end.enemy_alive))
            fighting = health_now / (nominal + group[pull] * max(alive, 1))
            share = health_now * rate[alive] / (rate[alive] + group[pull] * max(alive, 1))
            travel = 0.0
            for later in range(pull + 1, fight.num_pulls):
                health = fight.pull_health[later]
                enemies = int(np.sum(health > 0))
                fighting += health.sum() / (nominal + group[later] * enemies)
                share += health.sum() * rate[enemies] / (rate[enemies] + group[later] * enemies)
                travel += fight.pull_travel[later]
            expected = -((float(end.time) - float(state.time)) + fighting + travel) * scale
            own_damage = float(end.damage_done - state.damage_done) + share
            expected += own_damage_weight * own_damage / (nominal * float(env.fight.time_limit))
            one = jax.tree.map(lambda x: x[None], state)
            assert float(rollout_value(env, apl, steps)(one)[0]) == pytest.approx(expected, rel=1e-5, abs=1e-6), (fight.name, steps)


@pytest.mark.parametrize("fight_kind", ["patchwerk", "route_own_damage"])
def test_bootstrapped_leaf_value_is_the_rollouts_rewards_plus_the_networks_value_where_it_ended(test_profile,
                                                                                               fight_kind):
    """n-step bootstrapping: the simulator's own rewards over `steps` APL decisions (summed step
    by step here, as `engine.step` pays them), then the value head at the state reached, not
    the steady-rate tail; none after the fight ended."""
    import dataclasses

    from search.evaluator import bootstrapped_value, network_evaluator

    fight = (sim.patchwerk(duration=30.0) if fight_kind == "patchwerk"
             else dataclasses.replace(sim.load_route("short_test"), own_damage_weight=1.0))
    env = sim.make(profile=test_profile, fight=fight, expected_value=True)
    apl = load_apl(env)
    # A stub value head that reads the state: the observation's sum, so the end state matters.
    network = network_evaluator(env, lambda params, obs: (jnp.zeros(env.num_actions), params * jnp.sum(obs)))
    value = jax.jit(bootstrapped_value(env, apl, 5, network))
    state = env.init(jax.random.key(0))
    step = jax.jit(lambda s: env.step(s, apl(s)))
    end, rewards = state, 0.0
    for _ in range(5):
        end = step(end)
        rewards += float(end.reward)
    expected = rewards + 0.01 * float(jnp.sum(env.observation(end)))
    assert float(value(jnp.float32(0.01), batch(state))[0]) == pytest.approx(expected, rel=1e-4, abs=1e-6)
    finished = state.replace(terminated=jnp.bool_(True))
    assert float(value(jnp.float32(0.01), batch(finished))[0]) == 0.0


def test_search_config_takes_the_bootstrapped_value_with_a_network(test_profile):
    """value = "bootstrap" runs with a network; the model file's search table accepts it."""
    from train.model import SEARCH_FIELDS

    env = sim.make("retribution_paladin", test_profile, sim.patchwerk(duration=30.0), expected_value=True)
    plan = search.Planner(env, SearchConfig(num_simulations=8, value="bootstrap", rollout_steps=3),
                          apply_fn=lambda params, obs: (jnp.zeros(env.num_actions), params), params=jnp.float32(0.1))
    recommendation = plan.recommend(batch(env.init(jax.random.key(0))))
    assert recommendation.visit_counts.sum() == 8
    # The planner's leaves are the bootstrapped values, not the rollout values with their tail.
    from search.evaluator import bootstrapped_value, network_evaluator
    from search.planner import make_evaluator

    stub = lambda params, obs: (jnp.zeros(env.num_actions), params * jnp.sum(obs))  # noqa: E731
    states = batch(env.init(jax.random.key(0)))
    _, planned = make_evaluator(env, SearchConfig(value="bootstrap", rollout_steps=3), stub)(jnp.float32(0.01), states)
    direct = bootstrapped_value(env, load_apl(env), 3, network_evaluator(env, stub))(jnp.float32(0.01), states)
    np.testing.assert_allclose(planned, direct, rtol=1e-6)
    check, _ = SEARCH_FIELDS["value"]
    assert check("bootstrap") and not check("tail")


def random_tree(rng: np.random.Generator, batch: int = 6, nodes: int = 24, actions: int = 5) -> mctx.Tree:
    """A tree of random shape and values: node i's parent is an earlier node (the root has none)."""
    parents = np.stack([np.concatenate([[mctx.Tree.NO_PARENT], [rng.integers(0, i) for i in range(1, nodes)]])
                        for _ in range(batch)]).astype(np.int32)
    per_node, per_child = (batch, nodes), (batch, nodes, actions)
    return mctx.Tree(
        node_visits=rng.integers(0, 9, per_node).astype(np.int32),
        raw_values=rng.normal(size=per_node).astype(np.float32),
        node_values=rng.normal(size=per_node).astype(np.float32), parents=parents,
        action_from_parent=rng.integers(0, actions, per_node).astype(np.int32),
        children_index=np.full(per_child, mctx.Tree.UNVISITED, np.int32),
        children_prior_logits=np.zeros(per_child, np.float32),
        children_visits=rng.integers(0, 9, per_child).astype(np.int32),
        children_rewards=rng.normal(size=per_child).astype(np.float32),
        children_discounts=rng.uniform(0, 1, per_child).astype(np.float32),
        children_values=rng.normal(size=per_child).astype(np.float32),
        embeddings=np.zeros((batch, nodes), np.float32), root_invalid_actions=np.zeros((batch, actions), bool),
        extra_data=None)


def test_root_statistics_average_priors_over_worlds_without_overflow():
    """Illegal actions carry logits near float32's lowest value; averaging two worlds must
    keep them finite (a plain sum overflows to -inf), on the numpy and the jax path."""
    from search.planner import root_statistics

    tree = random_tree(np.random.default_rng(1), batch=4, actions=3)
    lowest = np.finfo(np.float32).min
    logits = np.zeros_like(tree.children_prior_logits)
    logits[:, :, 0] = lowest                        # action 0 illegal in every world
    logits[0::2, :, 1], logits[1::2, :, 1] = 1.0, 3.0   # action 1: 1 in world 0, 3 in world 1
    tree = tree.replace(children_prior_logits=logits)
    for xp_tree in (tree, jax.tree.map(jnp.asarray, tree)):
        priors = np.asarray(root_statistics(xp_tree, worlds=2).prior_logits)
        assert priors.shape == (2, 3)
        np.testing.assert_array_equal(priors[:, 0], [lowest, lowest])
        np.testing.assert_allclose(priors[:, 1], [2.0, 2.0])


def test_batched_backward_equals_mctx_backward():
    from mctx._src import search as mctx_search

    from search.backward import batched_backward

    rng = np.random.default_rng(0)
    theirs, ours = jax.jit(mctx_search.backward), jax.jit(batched_backward)
    for _ in range(4):
        tree = random_tree(rng)
        leaves = rng.integers(0, 24, 6).astype(np.int32)
        leaves[0] = mctx.Tree.ROOT_INDEX            # a path of length 0 beside longer ones
        expected, got = theirs(tree, leaves), ours(tree, leaves)
        for name in ("node_values", "node_visits", "children_values", "children_visits"):
            assert np.array_equal(np.asarray(getattr(expected, name)), np.asarray(getattr(got, name))), name
        assert not np.array_equal(np.asarray(got.node_visits), tree.node_visits)


def test_the_backward_swap_is_undone_after_tracing():
    from mctx._src import search as mctx_search

    from search.backward import batched_backward, batched_backward_in_mctx

    original = mctx_search.backward
    with batched_backward_in_mctx():
        assert mctx_search.backward is batched_backward
    assert mctx_search.backward is original


def test_interactive_searches_run_where_they_were_measured_fastest(patchwerk):
    """On an accelerator, "auto" searches one state on the host CPU (an H200 took 113 ms where
    its CPU took 26 ms) and larger batches on the accelerator; "cpu" always on the CPU;
    "default" where the inputs are. On a CPU backend nothing moves. The CPU path gives the same
    search as the default one."""
    cpu = jax.devices("cpu")[0]
    auto = planner(patchwerk, "gumbel", simulations=4)
    assert auto.device_for(1, backend="gpu") == cpu and auto.device_for(64, backend="gpu") is None
    assert auto.device_for(1, backend="cpu") is None
    forced = planner(patchwerk, "gumbel", simulations=4, device="cpu")
    assert forced.device_for(64, backend="gpu") == cpu
    assert planner(patchwerk, "gumbel", simulations=4, device="default").device_for(1, backend="gpu") is None
    state = batch(patchwerk.init(jax.random.key(3)))
    moved = forced.recommend(state, jax.random.key(1))
    assert forced._params_on == {}   # on a CPU backend nothing is moved
    np.testing.assert_array_equal(moved.visit_counts, auto.recommend(state, jax.random.key(1)).visit_counts)
    with pytest.raises(Exception, match="device must be one of auto, cpu, default"):
        SearchConfig(device="tpu0").validate()
