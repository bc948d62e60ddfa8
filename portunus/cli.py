"""The `portunus` command. Subcommands of later issues (search, train, overlay ...)
join this app; each one is a thin layer over a package function."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from portunus import inputs
from portunus.console import console, fail, write_json
from portunus.errors import InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Portunus: a planner for World of Warcraft combat on a JAX simulator.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print a table and write JSON.")
app.add_typer(bench_app, name="bench")
FIGHTS = ("patchwerk", "aoe", "route")
CHECKPOINT_HELP = ("Trained model: an exported model or a training run (default: the shipped model under "
                   "checkpoints/; 'none' = no network).")
# Every option goes through portunus.inputs (finite, in range, readable text, writable output) before
# the command runs; these are the ranges the commands share.
MAX_SECONDS = 3600.0            # a fight's length (sim.fights.MAX_FIGHT_SECONDS)
MAX_ITERATIONS = 1 << 20        # fights simulated in parallel
MAX_SIMULATIONS = 4096
MAX_HEALTH = 1e11               # sim.fights.MAX_HEALTH
MAX_OWN_DAMAGE_WEIGHT = 10.0    # train.envs.MAX_OWN_DAMAGE_WEIGHT


def checkpoint_option():
    return typer.Option(None, "--checkpoint", help=CHECKPOINT_HELP)


def seed_option():
    return typer.Option(0, help="Random seed (0 .. 2^32-1).", callback=inputs.seed_option())


def json_option(default: Optional[Path], help_text: str):
    return typer.Option(default, "--json", help=help_text, callback=inputs.output_file_option())


def profile_option(help_text: str = "SimC profile file, or a shipped character's name "
                                    "(retribution_paladin_default: Templar; retribution_paladin_herald; "
                                    "retribution_paladin_mop: Mists of Pandaria Classic) "
                                    "(default: the shipped Templar)."):
    return typer.Option(None, help=help_text, callback=inputs.text_file_option(may_be_name=True))


# --fight, --route, --duration, --targets: shared by sim, search and demo.
FIGHT = typer.Option("patchwerk", help="patchwerk, aoe, route, or a route .toml file.",
                     callback=inputs.text_file_option(may_be_name=True))
ROUTE = typer.Option(None, help="Route for --fight route: a shipped name or a file.",
                     callback=inputs.text_file_option(may_be_name=True))
DURATION = typer.Option(300.0, help=f"Patchwerk length in seconds (1-{MAX_SECONDS:.0f}).",
                        callback=inputs.number_option(1.0, MAX_SECONDS))
TARGETS = typer.Option(5, help="Number of targets for --fight aoe (1-20).",
                       callback=inputs.number_option(1, 20, integer=True))
# The evaluation suite's route weighs the player's damage at 1 (1 % more of it is worth about
# 0.75 % of the clear there); 0 plans for the clear time alone.
OWN_DAMAGE = typer.Option(0.0, help="aoe and route: plan for the clear time and the player's own damage x "
                                    f"this weight (0-{MAX_OWN_DAMAGE_WEIGHT:g}; the suite's route: 1).",
                          callback=inputs.number_option(0.0, MAX_OWN_DAMAGE_WEIGHT))


def build_fight(fight: str, duration: float, targets: int, health: Optional[float],
                route: Optional[str], key_level: Optional[int], own_damage: float = 0.0):
    """A Fight from command-line options. `fight` may also be a route file path."""
    import sim

    if fight == "patchwerk":
        chosen = sim.patchwerk(duration=duration, health=health)
    elif fight == "aoe":
        chosen = sim.aoe(targets=targets, **({"health_per_target": health} if health else {}))
    elif fight == "route" or fight.endswith(".toml"):
        name = route or (fight if fight.endswith(".toml") else "sample_keystone")
        chosen = sim.load_route(name, key_level)
    else:
        raise InputError(f"--fight must be one of {', '.join(FIGHTS)} or a route .toml file, got '{fight}'")
    if not own_damage:
        return chosen
    from train.envs import weigh_own_damage

    return weigh_own_damage(chosen, own_damage, "--own-damage")


def split_names(text: str, known, option: str) -> tuple[str, ...]:
    """A comma-separated option value, each name checked against `known`."""
    names = tuple(name.strip() for name in text.split(","))
    for name in names:
        if name not in known:
            raise InputError(f"{option}: unknown name '{name}'; known: {', '.join(known)}")
    return names


def print_summary(summary: dict, notes: tuple[str, ...]) -> None:
    for note in notes:
        console.print(f"[yellow]profile note:[/] {note}")
    dps = summary["dps"]
    console.print(f"\n[bold]{summary['spec']}[/] on [bold]{summary['fight']}[/], {summary['iterations']} iterations"
                  + (" (expected-value mode)" if summary["expected_value_mode"] else ""))
    console.print(f"DPS: [bold]{dps['mean']:,.1f}[/] ± {dps['error_95']:,.1f} (95 %)   "
                  f"min {dps['min']:,.0f}  max {dps['max']:,.0f}   "
                  f"fight length {summary['fight_length']['mean']:.1f} s   waits {summary['waits_per_iteration']:.1f}")
    table = Table(title="Damage by ability (per iteration)")
    for column in ("ability", "DPS", "share", "casts", "per cast"):
        table.add_column(column, justify="right" if column != "ability" else "left")
    for row in summary["abilities"]:
        table.add_row(row["label"], f"{row['dps']:,.0f}", f"{100 * row['share']:.1f} %",
                      "" if row["casts_per_iteration"] is None else f"{row['casts_per_iteration']:.1f}",
                      "" if row["damage_per_cast"] is None else f"{row['damage_per_cast']:,.0f}")
    console.print(table)
    route = summary.get("route")
    if route:
        clear = route["clear_time"]
        console.print(f"Route: +{route['key_level']}, timer {route['timer']:.0f} s, cleared in "
                      f"{100 * route['cleared_share']:.0f} % of iterations"
                      + (f", clear time {clear['mean']:.1f} ± {clear['error_95']:.1f} s" if clear else "")
                      + f"; player share of damage {100 * route['player_damage_share']:.1f} %")
        pulls = Table(title="Pulls")
        for column in ("#", "pull", "enemies", "travel", "duration", "cleared at"):
            pulls.add_column(column, justify="left" if column == "pull" else "right")
        for index, pull in enumerate(route["pulls"], start=1):
            pulls.add_row(str(index), pull["name"] + (" (boss)" if pull["boss"] else ""), str(pull["enemies"]),
                          f"{pull['travel_before']:.0f} s",
                          "-" if pull["duration_mean"] is None else f"{pull['duration_mean']:.1f} s",
                          "-" if pull["cleared_at_mean"] is None else f"{pull['cleared_at_mean']:.0f} s")
        console.print(pulls)


@app.command("sim")
def sim_command(
    profile: Optional[Path] = profile_option(),
    fight: str = FIGHT,
    route: Optional[str] = ROUTE,
    duration: float = DURATION,
    health: Optional[float] = typer.Option(None, help="Patchwerk: fight until this much health is gone; "
                                                      "aoe: health per target.",
                                           callback=inputs.number_option(1.0, MAX_HEALTH)),
    targets: int = TARGETS,
    key_level: Optional[int] = typer.Option(None, help="Override the route's keystone level (0-40).",
                                            callback=inputs.number_option(0, 40, integer=True)),
    iterations: int = typer.Option(1000, help="Fights simulated in parallel.",
                                   callback=inputs.number_option(1, MAX_ITERATIONS, integer=True)),
    seed: int = seed_option(),
    apl: Optional[Path] = typer.Option(None, help="An action priority list (SimC syntax) to play; "
                                                  "default: the spec's default APL.",
                                       callback=inputs.text_file_option()),
    policy: str = typer.Option("apl", help="Built-in policy when no --apl is given: apl (the spec's default "
                                           "APL), simple, greedy (highest damage now) or random."),
    expected_value: bool = typer.Option(False, "--expected-value", help="No randomness: expected crits and procs."),
    spec: Optional[str] = typer.Option(None, help="Spec name or spec .toml file; default: the profile's "
                                                  "(retribution_paladin, or retribution_paladin_mop for a "
                                                  "game=mop_classic character).",
                                       callback=inputs.text_file_option(may_be_name=True)),
    json_path: Optional[Path] = json_option(None, "Write the summary as JSON here."),
    report: Optional[Path] = typer.Option(None, help="Write plots (PNG) and the JSON summary into this folder.",
                                          callback=inputs.output_dir_option()),
) -> None:
    """Simulate fights and print a SimC-like summary."""
    try:
        import jax

        import sim
        from portunus.profile import load_profile
        from sim.apl import load_apl
        from sim.policies import POLICIES
        from sim.report import summarize
        from sim.rollout import rollout, trace

        if policy not in POLICIES:
            raise InputError(f"--policy must be one of {', '.join(POLICIES)}, got '{policy}'")
        character = load_profile(profile)
        env = sim.make(spec, character, build_fight(fight, duration, targets, health, route, key_level),
                       expected_value=expected_value)
        chosen = load_apl(env, apl) if apl is not None else POLICIES[policy](env)
        policy = f"apl:{apl}" if apl is not None else policy
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f} %"),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task(f"simulating {iterations} x {env.fight.name}", total=1.0)

            def on_chunk(states):
                progress = jax.numpy.minimum(states.time / env.fight.time_limit, 1.0)
                done = jax.numpy.where(states.terminated, 1.0, progress)
                bar.update(task, completed=float(done.mean()))

            states = rollout(env, chosen, jax.random.key(seed), iterations, on_chunk=on_chunk)
        unfinished = int((~states.terminated).sum())
        if unfinished:  # the fight bounds (sim.fights) keep this from happening; never report it silently
            console.print(f"[yellow]warning:[/] {unfinished} of {iterations} fights had not ended after the "
                          "rollout's decision limit; the summary covers the simulated part")
        summary = summarize(env, states)
        summary["profile"] = character.name
        summary["policy"] = policy
        summary["seed"] = seed
    except InputError as error:
        fail(error)
    print_summary(summary, character.notes)
    if json_path:
        write_json(json_path, summary)
    if report:
        from portunus.plots import write_report

        record = trace(env, chosen, jax.random.key(seed))
        for path in write_report(report, summary, record, env.spec.action_names, env.spec.resource_names):
            console.print(f"wrote {path}")


@app.command("search")
def search_command(
    profile: Optional[Path] = profile_option(),
    fight: str = FIGHT,
    route: Optional[str] = ROUTE,
    duration: float = DURATION,
    targets: int = TARGETS,
    own_damage: float = OWN_DAMAGE,
    key_level: Optional[int] = typer.Option(None, help="Override the route's keystone level (0-40).",
                                            callback=inputs.number_option(0, 40, integer=True)),
    state_from_sim_at: float = typer.Option(0.0, help="Play the default APL this many seconds, then search "
                                            "(before the fight's end).",
                                            callback=inputs.number_option(0.0, 2 * MAX_SECONDS)),
    simulations: int = typer.Option(64, help="Search simulations (1-4096).",
                                    callback=inputs.number_option(1, MAX_SIMULATIONS, integer=True)),
    policy: str = typer.Option("gumbel", help="gumbel (Gumbel MuZero) or muzero (AlphaZero PUCT)."),
    prior: str = typer.Option("apl", help="Prior without a network: apl or uniform."),
    rollout_steps: Optional[int] = typer.Option(None, help="APL decisions per leaf evaluation (0-64; default: "
                                                           "the model's own, 8 without a model).",
                                                callback=inputs.number_option(0, 64, integer=True)),
    depth: int = typer.Option(2, help="Tree depth to print (0-6).", callback=inputs.number_option(0, 6, integer=True)),
    sampled: bool = typer.Option(False, "--sampled", help="Search the random simulator in --worlds sampled "
                                                          "futures instead of expected values."),
    worlds: int = typer.Option(8, help="With --sampled: futures searched, root values averaged (1-1024).",
                               callback=inputs.number_option(1, 1024, integer=True)),
    seed: int = seed_option(),
    json_path: Optional[Path] = json_option(None, "Write the recommendation as JSON here."),
    checkpoint: Optional[str] = checkpoint_option(),
) -> None:
    """Search one fight state and print the recommendation and the tree."""
    try:
        import jax

        import search
        import sim
        from portunus.profile import load_profile

        from train.model import leaf_settings, resolve_model

        model = resolve_model(checkpoint)
        config = search.SearchConfig(policy=policy, num_simulations=simulations, prior=prior,
                                     expected_value=not sampled, worlds=worlds if sampled else 1,
                                     **leaf_settings(model, rollout_steps)).validate()
        chosen_fight = build_fight(fight, duration, targets, None, route, key_level, own_damage)
        character = load_profile(profile)
        env = sim.make(character.spec_key, character,
                       chosen_fight.with_slots(model.slots) if model else chosen_fight)
        if model:
            model.check_env(env)
        if state_from_sim_at >= float(env.fight.time_limit):
            raise InputError(f"--state-from-sim-at must be before the fight's end ({float(env.fight.time_limit):g} s), "
                             f"got {state_from_sim_at:g}")
        state = search.state_from_sim(env, state_from_sim_at, jax.random.key(seed))
        planner = search.Planner(env, config, model.apply if model else None, model.params if model else None)
        states = jax.tree.map(lambda x: x[None], state)
        planner.recommend(states, jax.random.key(seed), tree_depth=0)  # compile
        recommendation = planner.recommend(states, jax.random.key(seed), tree_depth=depth)
    except InputError as error:
        fail(error)
    result = recommendation.to_dict(0)
    alive = int(state.enemy_alive.sum())
    console.print(f"state: t = {float(state.time):.1f} s, {env.spec.resource_names[0]} "
                  f"{float(state.resources[0]):.0f}, {alive} enemies alive, pull {int(state.pull_index) + 1}")
    console.print(f"recommended: [bold]{result['best_action']}[/]   hold cooldowns: [bold]{result['hold_action']}[/]"
                  f"   ({simulations} simulations, {1000 * recommendation.search_seconds:.1f} ms, "
                  f"{f'network {model.path}' if model else 'no network: APL prior and rollouts'})")
    table = Table(title="actions")
    for column in ("action", "visits", "q", "prior"):
        table.add_column(column, justify="left" if column == "action" else "right")
    for row in result["actions"]:
        table.add_row(row["name"], str(row["visits"]), "-" if row["q"] is None else f"{row['q']:+.5f}",
                      f"{row['prior']:.2f}")
    console.print(table)
    if depth:
        console.print(search.format_tree(result["tree"]))
    if json_path:
        write_json(json_path, result)


@bench_app.command("search")
def bench_search_command(
    simulations: str = typer.Option("16,64,256,1024", help="Simulation counts for single-state latency.",
                                    callback=inputs.int_list_option(1, MAX_SIMULATIONS)),
    batch_sizes: str = typer.Option("64,1024", help="Batch sizes for throughput (at 64 simulations).",
                                    callback=inputs.int_list_option(1, 1 << 16)),
    repeats: int = typer.Option(20, help="Timed searches per setting.",
                                callback=inputs.number_option(3, 10_000, integer=True)),
    policy: str = typer.Option("gumbel", help="gumbel or muzero."),
    evaluators: str = typer.Option("apl,network", help="apl (no network: APL prior and rollouts), network (the "
                                                       "default network, random weights) and/or network+rollouts "
                                                       "(its prior, APL rollout values: how the shipped model "
                                                       "searches)."),
    rollout_steps: str = typer.Option("8", help="APL decisions per rollout leaf, for the evaluators that roll "
                                                "out (each one measured).",
                                      callback=inputs.int_list_option(0, 64)),
    json_path: Path = json_option(Path("bench-results/search.json"), "Where to write the JSON."),
) -> None:
    """Search latency (one state) and throughput (batches), after warm-up."""
    from portunus.bench import SEARCH_EVALUATORS, bench_search

    try:
        chosen = split_names(evaluators, tuple(SEARCH_EVALUATORS), "--evaluators")
        if policy not in ("gumbel", "muzero"):
            raise InputError(f"--policy must be gumbel or muzero, got '{policy}'")
    except InputError as error:
        fail(error)
    result = bench_search(list(simulations), list(batch_sizes), repeats, policy, chosen,
                          progress=lambda row: console.print(f"  {row}"), rollout_steps=tuple(rollout_steps))
    table = Table(title=f"search ({policy})")
    for column in ("evaluator", "rollout steps", "batch", "simulations", "median ms", "p95 ms", "states/s"):
        table.add_column(column, justify="right")
    for row in result["results"]:
        steps = "-" if row["rollout_steps"] is None else str(row["rollout_steps"])
        table.add_row(row["evaluator"], steps, str(row["batch"]), str(row["simulations"]), f"{row['median_ms']:.1f}",
                      f"{row['p95_ms']:.1f}", f"{row['states_per_second']:,.0f}")
    console.print(table)
    write_json(json_path, result)


@bench_app.command("sim")
def bench_sim_command(
    batch_sizes: str = typer.Option("1,16,256,1024,4096,16384", help="Comma-separated batch sizes.",
                                    callback=inputs.int_list_option(1, 1 << 22)),
    steps: int = typer.Option(64, help="Decisions per timed call.",
                              callback=inputs.number_option(1, 100_000, integer=True)),
    repeats: int = typer.Option(5, help="Timed calls per batch size (the median is reported).",
                                callback=inputs.number_option(1, 1000, integer=True)),
    policies: str = typer.Option("random,apl", help="Policies to time: apl, simple, greedy, random."),
    fight: str = typer.Option("patchwerk", help="patchwerk, aoe (5 targets) or route (the sample keystone)."),
    import_orders: str = typer.Option("sim-first,jax-first", help="Measure in a fresh process per order: "
                                      "sim-first (import sim before any JAX computation), jax-first (a JAX "
                                      "computation runs before import sim)."),
    json_path: Path = json_option(Path("bench-results/sim.json"), "Where to write the JSON."),
) -> None:
    """Simulator throughput (env steps per second) against batch size, in both import orders."""
    from portunus.bench import BENCH_FIGHTS, IMPORT_ORDERS, bench_sim_orders
    from sim.policies import POLICIES

    try:
        chosen = split_names(policies, tuple(POLICIES), "--policies")
        orders = split_names(import_orders, tuple(IMPORT_ORDERS), "--import-orders")
        if fight not in BENCH_FIGHTS:
            raise InputError(f"--fight must be one of {', '.join(BENCH_FIGHTS)}, got '{fight}'")
    except InputError as error:
        fail(error)

    def show(row):
        console.print(f"  {row['import_order']:>9} {row['policy']:>6} batch {row['batch']:>6}: "
                      f"{row['steps_per_second']:,.0f} steps/s")

    try:
        result = bench_sim_orders(fight, list(batch_sizes), steps, repeats, chosen, orders, progress=show)
    except RuntimeError as error:
        fail(error)
    table = Table(title=f"env steps per second (median), {result['fight']}")
    for column in ("policy", "batch", *orders, *(f"{order} / {orders[0]}" for order in orders[1:])):
        table.add_column(column, justify="right")
    rates = {(row["import_order"], row["policy"], row["batch"]): row["steps_per_second"] for row in result["results"]}
    for name in chosen:
        for batch in batch_sizes:
            row = [rates[order, name, batch] for order in orders]
            table.add_row(name, str(batch), *(f"{rate:,.0f}" for rate in row),
                          *(f"{rate / row[0]:.2f}" for rate in row[1:]))
    console.print(table)
    console.print(f"device: {result['environment']['device']}, jax {result['environment']['jax']}")
    write_json(json_path, result)


@bench_app.command("crn")
def bench_crn_command(
    fight: str = typer.Option("patchwerk", help="A fight, as in the training config (patchwerk, aoe:5, ...)."),
    states: int = typer.Option(512, help="Mid-fight states to branch from (16-65,536).",
                               callback=inputs.number_option(16, 65_536, integer=True)),
    seed: int = seed_option(),
    json_path: Path = json_option(Path("bench-results/crn.json"), "Where to write the JSON."),
) -> None:
    """What common random numbers buy: the spread of the return difference between two first
    actions from the same state, with a shared fight key against a fresh one."""
    from portunus.bench import bench_crn
    from train.envs import parse_fight

    try:
        parse_fight(fight, 8)
    except InputError as error:
        fail(error)
    with console.status("branching") as status:
        result = bench_crn(fight, states, seed, progress=lambda name: status.update(f"played branch {name}"))
    row = result["result"]
    table = Table(title=f"return difference between two first actions, {fight}, {row['states']} states")
    for column in ("randomness", "std of the difference", "mean difference"):
        table.add_column(column, justify="right")
    table.add_row("shared key (event-keyed draws)", f"{row['difference_std_shared_key']:,.0f}",
                  f"{row['difference_mean_shared_key']:,.0f}")
    table.add_row("fresh key (no common numbers)", f"{row['difference_std_fresh_key']:,.0f}",
                  f"{row['difference_mean_fresh_key']:,.0f}")
    console.print(table)
    console.print(f"variance ratio {row['variance_ratio']:.1f} (samples needed for the same precision); "
                  f"mean return {row['mean_return']:,.0f}")
    write_json(json_path, result)


@bench_app.command("retail")
def bench_retail_command(
    fight: str = typer.Option("patchwerk:300", help="A fight, as in the training config."),
    policy: str = typer.Option("apl", help="apl or mcts (the simulator-only planner)."),
    episodes: int = typer.Option(4, help="Episodes per view, the same for every view (2-10,000).",
                                 callback=inputs.number_option(2, 10_000, integer=True)),
    simulations: int = typer.Option(64, help="Search simulations per decision with --policy mcts (1-4096).",
                                    callback=inputs.number_option(1, 4096, integer=True)),
    samples: int = typer.Option(4, help="Belief samples per decision (1-64).",
                                callback=inputs.number_option(1, 64, integer=True)),
    seed: int = seed_option(),
    json_path: Path = json_option(Path("bench-results/retail.json"), "Where to write the JSON."),
) -> None:
    """What the retail view costs: one policy fed the full state, the one-guess state from what
    retail combat shows, or a belief over it (rules drawn afresh, or copies of the fight that
    replay the player's casts), beside the game's own Assisted Combat pick; damage paired by
    episode."""
    from train.envs import parse_fight
    from train.views import POLICIES, play_views

    try:
        if policy not in POLICIES:
            raise InputError(f"--policy must be one of {', '.join(POLICIES)}, got '{policy}'")
        import sim

        env = sim.make("retribution_paladin", None, parse_fight(fight, 8))
    except InputError as error:
        fail(error)
    with console.status("playing") as status:
        result = play_views(env, policy, episodes=episodes, seed=seed, simulations=simulations, samples=samples,
                            on_episode=lambda view, done: status.update(f"{view}: {done}/{episodes} episodes"))
    table = Table(title=f"{policy} on {result['fight']}: {episodes} paired episodes")
    for column in ("view", "damage (95 %)", "vs full, % (95 %)", "vs the game's pick, % (95 %)", "refused presses"):
        table.add_column(column, justify="right")

    def versus(pair) -> str:
        return "-" if pair is None else (f"{pair['percent']['mean']:+.1f} [{pair['percent']['low']:+.1f}, "
                                         f"{pair['percent']['high']:+.1f}]")

    for view, row in result["views"].items():
        damage = row["damage"]
        table.add_row(view, f"{damage['mean']:,.0f} [{damage['low']:,.0f}, {damage['high']:,.0f}]",
                      versus(row.get("versus_full")), versus(row.get("versus_assistant")), str(row["refused_presses"]))
    console.print(table)
    result["environment"] = __import__("portunus.bench", fromlist=["environment"]).environment()
    write_json(json_path, result)


@bench_app.command("selfplay")
def bench_selfplay_command(
    envs_per_fight: str = typer.Option("32,128", help="Environments per fight to measure.",
                                       callback=inputs.int_list_option(1, 1 << 16)),
    config_path: Optional[Path] = typer.Option(None, "--config", help="Training TOML (default: built-in).",
                                               callback=inputs.text_file_option()),
    repeats: int = typer.Option(3, help="Timed iterations per size.",
                                callback=inputs.number_option(1, 1000, integer=True)),
    json_path: Path = json_option(Path("bench-results/selfplay.json"), "Where to write the JSON."),
) -> None:
    """Self-play training throughput (decisions/s of whole iterations) against batch size."""
    from portunus.bench import bench_selfplay
    from train.config import load_config

    try:
        config = load_config(config_path)
    except InputError as error:
        fail(error)
    result = bench_selfplay(list(envs_per_fight), config, repeats, progress=lambda row: console.print(f"  {row}"))
    table = Table(title=f"self-play ({config.num_simulations} simulations, {config.search_value} values)")
    for column in ("envs/fight", "decisions/iteration", "median s", "decisions/s", "first iteration s"):
        table.add_column(column, justify="right")
    for row in result["results"]:
        table.add_row(str(row["envs_per_fight"]), str(row["decisions_per_iteration"]),
                      f"{row['median_iteration_s']:.2f}", f"{row['decisions_per_second']:,.0f}",
                      f"{row['first_iteration_s']:.1f}")
    console.print(table)
    write_json(json_path, result)


@bench_app.command("policies")
def bench_policies_command(
    policies: str = typer.Option("apl,simple,greedy,random", help="Policies to compare."),
    fights: str = typer.Option("patchwerk,aoe5,aoe10,route", help="Fights: patchwerk, aoe5, aoe10, route."),
    iterations: int = typer.Option(500, help="Fights per policy and fight (same seeds for all).",
                                   callback=inputs.number_option(2, MAX_ITERATIONS, integer=True)),
    seed: int = seed_option(),
    json_path: Path = json_option(Path("bench-results/policies.json"), "Where to write the JSON."),
) -> None:
    """Policy quality: DPS and fight / clear time of each policy on the same seeds."""
    from portunus.bench import POLICY_FIGHTS, bench_policies
    from sim.policies import POLICIES

    try:
        chosen = split_names(policies, tuple(POLICIES), "--policies")
        fight_names = split_names(fights, tuple(POLICY_FIGHTS), "--fights")
    except InputError as error:
        fail(error)
    result = bench_policies(chosen, fight_names, iterations, seed,
                            progress=lambda row: console.print(f"  {row['fight']:>9} {row['policy']:>7}: "
                                                               f"{row['dps']:,.0f} DPS, {row['time']:.1f} s"))
    table = Table(title=f"policies, {iterations} iterations each, seed {seed}")
    for column in ("fight", "policy", "DPS (95 %)", "vs first", "time (s)"):
        table.add_column(column, justify="right")
    for fight_name in fight_names:
        rows = [row for row in result["results"] if row["fight"] == fight_name]
        for row in rows:
            table.add_row(fight_name, row["policy"], f"{row['dps']:,.0f} ± {row['dps_error_95']:,.0f}",
                          f"{row['dps'] / rows[0]['dps']:.2f}", f"{row['time']:.1f}")
    console.print(table)
    write_json(json_path, result)


def _overlay_config(config_path: Optional[Path], policy: Optional[str], simulations: Optional[int]):
    from overlay.config import POLICY_MODES, load_config

    config = load_config(config_path)
    if policy is not None:
        if policy not in POLICY_MODES:
            raise InputError(f"--policy must be one of {', '.join(POLICY_MODES)}, got '{policy}'")
        config.policy = policy
    if simulations is not None:
        config.simulations = simulations
    return config


def _needs_model(config, model, checkpoint: Optional[str]) -> None:
    """Policy 'net' without a network is refused (as `portunus serve` does), never swapped for mcts."""
    if config.policy == "net" and model is None:
        given = f"--checkpoint {checkpoint} gives none" if checkpoint else "no shipped model was found"
        raise InputError(f"--policy net needs a trained model and {given}; use --policy apl or mcts, "
                         "or --checkpoint MODEL")


def _check_display(virtual: bool) -> None:
    from overlay.display import display_problem

    problem = None if virtual else display_problem()
    if problem:
        raise InputError(f"{problem}; run it in a desktop session, or add --virtual-display to draw on a "
                         "private Xvfb display")


VIRTUAL_DISPLAY = typer.Option(False, "--virtual-display", help="Run on a private Xvfb display (no screen needed).")
SIMULATIONS_PER_REFRESH = typer.Option(None, help="Search simulations per refresh (1-4096).",
                                       callback=inputs.number_option(1, MAX_SIMULATIONS, integer=True))
CLOSE_AFTER = typer.Option(None, help="Close after this many seconds (for scripts).",
                           callback=inputs.number_option(0.1, 7 * 86400.0))


@app.command("overlay")
def overlay_command(
    config_path: Optional[Path] = typer.Option(None, "--config", help="Overlay TOML (default "
                                               "~/.config/portunus/overlay.toml; created on exit).",
                                               callback=inputs.text_file_option(may_be_missing=True)),
    profile: Optional[Path] = profile_option("Your SimC profile (default: the shipped character)."),
    policy: Optional[str] = typer.Option(None, help="apl, net or mcts (default: the config's)."),
    simulations: Optional[int] = SIMULATIONS_PER_REFRESH,
    seconds: Optional[float] = CLOSE_AFTER,
    planner: Optional[str] = typer.Option(None, help="Use a `portunus serve` service at this URL instead "
                                                     "of searching in-process."),
    planner_timeout: float = typer.Option(1.0, help="Seconds to wait for the service (0.05-30).",
                                          callback=inputs.number_option(0.05, 30.0)),
    virtual: bool = VIRTUAL_DISPLAY,
    checkpoint: Optional[str] = checkpoint_option(),
) -> None:
    """The rotation helper: reads the addon's barcode from the screen and shows what to press."""
    import contextlib

    try:
        from overlay.config import DEFAULT_PATH
        from overlay.display import virtual_display
        from overlay.launch import build_overlay
        from portunus.profile import load_profile
        from train.model import resolve_model

        config = _overlay_config(config_path, policy, simulations)
        character = load_profile(profile)
        model = None if planner else resolve_model(checkpoint)
        if not planner:
            _needs_model(config, model, checkpoint)
        _check_display(virtual)
    except InputError as error:
        fail(error)
    with contextlib.ExitStack() as stack:
        try:
            if virtual:
                stack.enter_context(virtual_display())
        except RuntimeError as error:   # no Xvfb to start
            fail(error)
        app_window = build_overlay(config, config_path or DEFAULT_PATH, character, planner_url=planner,
                                   planner_timeout=planner_timeout, model=model)
        app_window.run(max_seconds=seconds)


@app.command("demo")
def demo_command(
    profile: Optional[Path] = profile_option(),
    fight: str = FIGHT,
    route: Optional[str] = ROUTE,
    duration: float = DURATION,
    targets: int = TARGETS,
    own_damage: float = OWN_DAMAGE,
    policy: Optional[str] = typer.Option(None, help="apl, net or mcts (default: the config's)."),
    simulations: Optional[int] = SIMULATIONS_PER_REFRESH,
    speed: float = typer.Option(1.0, help="Fight time per real second (0.1-20).",
                                callback=inputs.number_option(0.1, 20.0)),
    seed: int = seed_option(),
    config_path: Optional[Path] = typer.Option(None, "--config", help="Overlay TOML for window and settings.",
                                               callback=inputs.text_file_option()),
    seconds: Optional[float] = CLOSE_AFTER,
    screenshot: Optional[Path] = typer.Option(None, help="Save a PNG of the window when closing "
                                                         "(needs --seconds).",
                                              callback=inputs.output_file_option()),
    virtual: bool = VIRTUAL_DISPLAY,
    checkpoint: Optional[str] = checkpoint_option(),
) -> None:
    """The overlay on a simulated fight played in real time: the whole path except the game."""
    import contextlib

    try:
        from overlay.display import virtual_display
        from overlay.launch import build_demo
        from portunus.profile import load_profile
        from train.model import resolve_model

        if screenshot is not None and seconds is None:
            raise InputError("--screenshot needs --seconds: the picture is taken when the demo closes itself")
        config = _overlay_config(config_path, policy, simulations)
        chosen_fight = build_fight(fight, duration, targets, None, route, None, own_damage)
        character = load_profile(profile)
        model = resolve_model(checkpoint)
        _needs_model(config, model, checkpoint)
        _check_display(virtual)
    except InputError as error:
        fail(error)
    with contextlib.ExitStack() as stack:
        try:
            if virtual:
                stack.enter_context(virtual_display())
        except RuntimeError as error:   # no Xvfb to start
            fail(error)
        window = build_demo(config, chosen_fight, character, seed=seed, speed=speed, config_path=config_path,
                            model=model)
        shots = []

        def grab(app_window):
            if screenshot is not None and seconds is not None and app_window.frames % 10 == 0:
                import mss
                import numpy

                with mss.MSS() as grabber:
                    shots[:] = [numpy.asarray(grabber.grab({"left": config.x, "top": config.y,
                                                            "width": config.width, "height": config.height}))]

        window.run(max_seconds=seconds, on_frame=grab)
        if screenshot is not None and shots:
            from matplotlib.image import imsave

            screenshot.parent.mkdir(parents=True, exist_ok=True)
            imsave(screenshot, shots[0][:, :, [2, 1, 0]])
            console.print(f"wrote {screenshot}")
    progress = window.demo.progress()
    console.print(f"demo: {progress['time']:.1f} s of fight, {progress['damage']:,.0f} damage "
                  f"({progress['dps']:,.0f} DPS), {window.worker.refreshes} planner refreshes")


@bench_app.command("overlay")
def bench_overlay_command(
    simulations: str = typer.Option("64,256", help="Comma-separated simulation counts.",
                                    callback=inputs.int_list_option(1, MAX_SIMULATIONS)),
    refreshes: int = typer.Option(40, help="Timed refreshes per count (after 3 warm-up).",
                                  callback=inputs.number_option(5, 100_000, integer=True)),
    policy: str = typer.Option("mcts", help="apl or mcts."),
    view: str = typer.Option("full", help="full: every value readable; retail: what retail combat shows "
                             "(the overlay plans over a belief, its cost is the 'state' column)."),
    json_path: Path = json_option(Path("bench-overlay.json"), "Where to write the JSON."),
) -> None:
    """Grab + decode + state + search + UI update per refresh of the real overlay (median, p95)."""
    try:
        if policy not in ("apl", "mcts"):
            raise InputError(f"--policy must be apl or mcts, got '{policy}'")
        if view not in ("full", "retail"):
            raise InputError(f"--view must be full or retail, got '{view}'")
    except InputError as error:
        fail(error)
    from overlay.bench import bench_overlay
    from overlay.display import virtual_display

    try:
        with virtual_display():
            result = bench_overlay(list(simulations), refreshes, mode=policy, view=view)
    except RuntimeError as error:   # no Xvfb
        fail(error)
    table = Table(title=f"overlay refresh, {view} view (ms, median / p95)")
    for column in ("sims", "grab+decode", "state", "search", "UI", "total"):
        table.add_column(column, justify="right")
    for row in result["results"]:
        table.add_row(str(row["simulations"]), *(f"{row[k]['median_ms']:.1f} / {row[k]['p95_ms']:.1f}"
                                                 for k in ("grab_decode", "state", "search", "ui", "total")))
    console.print(table)
    write_json(json_path, result)


BATCH_SIZES = typer.Option("1,4,16,64", help="Batch sizes compiled at start (1-1024); requests are padded up.",
                           callback=inputs.int_list_option(1, 1024))
MAX_WAIT_MS = typer.Option(30.0, help="Longest a batch waits for requests (0-100 ms).",
                           callback=inputs.number_option(0.0, 100.0))
BATCH_GAP_MS = typer.Option(3.0, help="A batch closes when no request came for this long (0-100 ms).",
                            callback=inputs.number_option(0.0, 100.0))
SEARCH_THREADS = typer.Option(0, help="Slices of a batch searched at once (0: up to 4 on CPU, 1 on an "
                              "accelerator; at most 64).", callback=inputs.number_option(0, 64, integer=True))
SERVICE_SIMULATIONS = typer.Option(64, help="Search simulations per state (1-4096).",
                                   callback=inputs.number_option(1, MAX_SIMULATIONS, integer=True))


# How long aiohttp keeps reading (and dropping) the rest of a body it answered early (a 408, a 413)
# before it closes the connection; its default of 10 s let a half-sent request hold one for 13 s.
LINGERING_SECONDS = 1.0


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", help="Address to listen on. Beyond loopback, /v1/configure needs "
                                               "the --token (one is made up and printed if none is given)."),
    port: int = typer.Option(8765, help="Port to listen on.", callback=inputs.number_option(1, 65535, integer=True)),
    profile: Optional[Path] = profile_option("SimC profile of the character (default: shipped)."),
    policy: str = typer.Option("mcts", help="apl, net (the network alone) or mcts."),
    simulations: int = SERVICE_SIMULATIONS,
    batch_sizes: str = BATCH_SIZES,
    max_wait_ms: float = MAX_WAIT_MS,
    batch_gap_ms: float = BATCH_GAP_MS,
    search_threads: int = SEARCH_THREADS,
    belief_samples: int = typer.Option(4, help="States drawn for a snapshot that hides values (retail combat: "
                                               "secret cooldowns, auras), merged into one answer; 1: one guess "
                                               "(1-64).", callback=inputs.number_option(1, 64, integer=True)),
    belief_particles: int = typer.Option(32, help="Copies of the fight kept per client session (a request's "
                                                  "\"session\"): hidden values then follow the client's own "
                                                  "casts; 0: rules only (0-256).",
                                         callback=inputs.number_option(0, 256, integer=True)),
    token: Optional[str] = typer.Option(None, envvar="PORTUNUS_TOKEN", help="Secret /v1/configure requires as "
                                        "'Authorization: Bearer TOKEN' (env PORTUNUS_TOKEN)."),
    read_timeout: float = typer.Option(10.0, help="Seconds a client has to send a request's headers and body "
                                       "(and an idle connection stays open).",
                                       callback=inputs.number_option(0.1, 600.0)),
    rollout_steps: Optional[int] = typer.Option(None, help="APL decisions per search leaf (0-64; default: the "
                                                           "model's own, 8 without one): fewer answer faster.",
                                                callback=inputs.number_option(0, 64, integer=True)),
    checkpoint: Optional[str] = checkpoint_option(),
) -> None:
    """The planner as a local HTTP + JSON service with dynamic batching (docs in README)."""
    import secrets

    from aiohttp import web

    from portunus.inputs import read_text
    from portunus.profile import profile_path
    from portunus.service import Access, EngineConfig, PlanningEngine, make_app
    from portunus.service.server import freeze_heap, is_loopback

    try:
        if token is not None and (len(token) < 8 or not token.isprintable()):
            raise InputError("--token must be at least 8 printable characters")
        loopback = is_loopback(host)
        if not loopback and token is None:
            token = secrets.token_urlsafe(24)
        profile_text = read_text(profile_path(profile), "profile") if profile is not None else None
        config = EngineConfig(policy=policy, simulations=simulations, batch_sizes=batch_sizes,
                              profile_text=profile_text, checkpoint=checkpoint, search_threads=search_threads,
                              belief_samples=belief_samples, belief_particles=belief_particles,
                              rollout_steps=rollout_steps)
        try:
            config.validate()
        except ValueError as error:
            raise InputError(f"--{error}") from None
        console.print(f"compiling {policy} for batch sizes {', '.join(map(str, config.batch_sizes))} ...")
        engine = PlanningEngine(config)
        seconds = engine.warm_up()
        freeze_heap()
    except (InputError, OSError) as error:
        fail(error)
    if not loopback:
        console.print(f"[yellow]warning:[/] listening on {host}: other machines can ask for recommendations; "
                      f"/v1/configure needs the header 'Authorization: Bearer {token}'")
    console.print(f"ready on http://{host}:{port} ({engine.env.spec.name}, {engine.profile_name}, {policy}, "
                  f"{simulations} simulations; warm-up {seconds:.1f} s)")
    web.run_app(make_app(engine, max_wait_ms / 1000, batch_gap_ms / 1000, access=Access(loopback, token),
                         read_timeout=read_timeout),
                host=host, port=port, print=None, handle_signals=True, keepalive_timeout=read_timeout,
                lingering_time=LINGERING_SECONDS)
    console.print("stopped")


@bench_app.command("serve")
def bench_serve_command(
    clients: str = typer.Option("1,8,64", help="Comma-separated concurrency levels (1-256).",
                                callback=inputs.int_list_option(1, 256)),
    seconds: float = typer.Option(10.0, help="Time per level (1-120 s).", callback=inputs.number_option(1.0, 120.0)),
    max_requests: int = typer.Option(5000, help="Request budget per level.",
                                     callback=inputs.number_option(1, 10_000_000, integer=True)),
    simulations: int = SERVICE_SIMULATIONS,
    policy: str = typer.Option("mcts", help="apl or mcts."),
    batch_sizes: str = BATCH_SIZES,
    max_wait_ms: float = MAX_WAIT_MS,
    batch_gap_ms: float = BATCH_GAP_MS,
    search_threads: int = SEARCH_THREADS,
    checkpoint: str = typer.Option(None, help="The service's --checkpoint: a model directory or 'none' "
                                   "(default: the shipped model)."),
    json_path: Path = json_option(Path("bench-serve.json"), "Where to write the JSON."),
) -> None:
    """Loopback load test of `portunus serve`: throughput, latency percentiles, batch sizes."""
    levels = list(clients)
    batch_sizes = ",".join(map(str, batch_sizes))
    try:
        if checkpoint is not None:
            from train.model import resolve_model

            resolve_model(checkpoint)  # a bad --checkpoint is named here, not by a dying service
    except InputError as error:
        fail(error)
    from portunus.service.loadtest import bench_serve

    try:
        result = bench_serve(levels, seconds, max_requests, simulations, policy, batch_sizes, max_wait_ms,
                             batch_gap_ms, search_threads, checkpoint, progress=lambda row: console.print(
                                 f"  {row['clients']:>3} clients: {row['requests']} requests, {row['failed']} failed"))
    except RuntimeError as error:  # the service did not start: its own message says why
        fail(error)
    table = Table(title=f"portunus serve, {policy}, {simulations} simulations, loopback")
    for column in ("clients", "requests/s", "p50 ms", "p95 ms", "p99 ms", "failed", "batch sizes (count)"):
        table.add_column(column, justify="right")
    for row in result["results"]:
        latency = row["latency_ms"]
        table.add_row(str(row["clients"]), f"{row['throughput_rps']:.1f}", f"{latency['p50']:.0f}",
                      f"{latency['p95']:.0f}", f"{latency['p99']:.0f}", str(row["failed"]),
                      " ".join(f"{k}:{v}" for k, v in row["batch_states"].items()))
    console.print(table)
    write_json(json_path, result)


@app.command("addon-tables")
def addon_tables_command(
    out: Path = typer.Option(None, help="Folder for the Lua spec tables (default: addon/Portunus/Specs).",
                             callback=inputs.output_dir_option()),
) -> None:
    """Regenerate the addon's spec tables (spell ids, order) from the simulator's spec files."""
    from portunus.addon_tables import SPECS_DIR, write_tables

    for path in write_tables(out or SPECS_DIR):
        console.print(f"wrote {path}")


def _register_training_commands() -> None:
    from portunus import train_commands

    app.command("train")(train_commands.train_command)
    app.command("finetune")(train_commands.finetune_command)
    app.command("evaluate")(train_commands.evaluate_command)
    app.command("plot")(train_commands.plot_command)
    app.command("export")(train_commands.export_command)


_register_training_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
