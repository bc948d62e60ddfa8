"""The `portunus` command. Subcommands of later issues (search, train, overlay ...)
join this app; each one is a thin layer over a package function."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from portunus.console import console, fail, write_json
from portunus.errors import InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Portunus: a planner for World of Warcraft combat on a JAX simulator.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print a table and write JSON.")
app.add_typer(bench_app, name="bench")
FIGHTS = ("patchwerk", "aoe", "route")
CHECKPOINT_HELP = ("Trained model: an exported model or a training run (default: the shipped model under "
                   "checkpoints/; 'none' = no network).")


def checkpoint_option():
    return typer.Option(None, "--checkpoint", help=CHECKPOINT_HELP)


def build_fight(fight: str, duration: float, targets: int, health: Optional[float],
                route: Optional[str], key_level: Optional[int]):
    """A Fight from command-line options. `fight` may also be a route file path."""
    import sim

    if fight == "patchwerk":
        return sim.patchwerk(duration=duration, health=health)
    if fight == "aoe":
        return sim.aoe(targets=targets, **({"health_per_target": health} if health else {}))
    if fight == "route" or fight.endswith(".toml"):
        name = route or (fight if fight.endswith(".toml") else "sample_keystone")
        return sim.load_route(name, key_level)
    raise InputError(f"--fight must be one of {', '.join(FIGHTS)} or a route .toml file, got '{fight}'")


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
    profile: Optional[Path] = typer.Option(None, help="SimC profile file (default: the shipped character)."),
    fight: str = typer.Option("patchwerk", help="patchwerk, aoe, route, or a route .toml file."),
    route: Optional[str] = typer.Option(None, help="Route for --fight route: a shipped name or a file."),
    duration: float = typer.Option(300.0, help="Patchwerk length in seconds."),
    health: Optional[float] = typer.Option(None, help="Patchwerk: fight until this much health is gone; "
                                                      "aoe: health per target."),
    targets: int = typer.Option(5, help="Number of targets for --fight aoe."),
    key_level: Optional[int] = typer.Option(None, help="Override the route's keystone level."),
    iterations: int = typer.Option(1000, min=1, help="Fights simulated in parallel."),
    seed: int = typer.Option(0, help="Random seed."),
    apl: Optional[Path] = typer.Option(None, help="An action priority list (SimC syntax) to play; "
                                                  "default: the spec's default APL."),
    policy: str = typer.Option("apl", help="Built-in policy when no --apl is given: apl (the spec's default "
                                           "APL), simple, greedy (highest damage now) or random."),
    expected_value: bool = typer.Option(False, "--expected-value", help="No randomness: expected crits and procs."),
    spec: str = typer.Option("retribution_paladin", help="Spec name or spec .toml file."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the summary as JSON here."),
    report: Optional[Path] = typer.Option(None, help="Write plots (PNG) and the JSON summary into this folder."),
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
    profile: Optional[Path] = typer.Option(None, help="SimC profile file (default: the shipped character)."),
    fight: str = typer.Option("patchwerk", help="patchwerk, aoe, route, or a route .toml file."),
    route: Optional[str] = typer.Option(None, help="Route for --fight route: a shipped name or a file."),
    duration: float = typer.Option(300.0, help="Patchwerk length in seconds."),
    targets: int = typer.Option(5, help="Number of targets for --fight aoe."),
    key_level: Optional[int] = typer.Option(None, help="Override the route's keystone level."),
    state_from_sim_at: float = typer.Option(0.0, help="Play the default APL this many seconds, then search."),
    simulations: int = typer.Option(64, min=1, help="Search simulations."),
    policy: str = typer.Option("gumbel", help="gumbel (Gumbel MuZero) or muzero (AlphaZero PUCT)."),
    prior: str = typer.Option("apl", help="Prior without a network: apl or uniform."),
    rollout_steps: int = typer.Option(8, min=0, help="APL decisions per leaf evaluation."),
    depth: int = typer.Option(2, min=0, max=6, help="Tree depth to print."),
    sampled: bool = typer.Option(False, "--sampled", help="Search the random simulator (the state's own key) "
                                                          "instead of expected values."),
    seed: int = typer.Option(0, help="Random seed."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the recommendation as JSON here."),
    checkpoint: Optional[str] = checkpoint_option(),
) -> None:
    """Search one fight state and print the recommendation and the tree."""
    try:
        import jax

        import search
        import sim
        from portunus.profile import load_profile

        from train.model import resolve_model

        model = resolve_model(checkpoint)
        settings = model.search_settings() if model else {"rollout_steps": rollout_steps}
        config = search.SearchConfig(policy=policy, num_simulations=simulations, prior=prior,
                                     expected_value=not sampled, **settings).validate()
        chosen_fight = build_fight(fight, duration, targets, None, route, key_level)
        env = sim.make("retribution_paladin", load_profile(profile),
                       chosen_fight.with_slots(model.slots) if model else chosen_fight)
        if model:
            model.check_env(env)
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
    simulations: str = typer.Option("16,64,256,1024", help="Simulation counts for single-state latency."),
    batch_sizes: str = typer.Option("64,1024", help="Batch sizes for throughput (at 64 simulations)."),
    repeats: int = typer.Option(20, min=3, help="Timed searches per setting."),
    policy: str = typer.Option("gumbel", help="gumbel or muzero."),
    evaluators: str = typer.Option("apl,network", help="apl (no network: APL prior and rollouts) and/or "
                                                       "network (the default network, random weights)."),
    json_path: Path = typer.Option(Path("bench-results/search.json"), "--json", help="Where to write the JSON."),
) -> None:
    """Search latency (one state) and throughput (batches), after warm-up."""
    from portunus.bench import bench_search

    try:
        chosen = split_names(evaluators, ("apl", "network"), "--evaluators")
    except InputError as error:
        fail(error)
    result = bench_search([int(n) for n in simulations.split(",")], [int(b) for b in batch_sizes.split(",")],
                          repeats, policy, chosen, progress=lambda row: console.print(f"  {row}"))
    table = Table(title=f"search ({policy})")
    for column in ("evaluator", "batch", "simulations", "median ms", "p95 ms", "states/s"):
        table.add_column(column, justify="right")
    for row in result["results"]:
        table.add_row(row["evaluator"], str(row["batch"]), str(row["simulations"]), f"{row['median_ms']:.1f}",
                      f"{row['p95_ms']:.1f}", f"{row['states_per_second']:,.0f}")
    console.print(table)
    write_json(json_path, result)


@bench_app.command("sim")
def bench_sim_command(
    batch_sizes: str = typer.Option("1,16,256,1024,4096,16384", help="Comma-separated batch sizes."),
    steps: int = typer.Option(64, min=1, help="Decisions per timed call."),
    repeats: int = typer.Option(5, min=1, help="Timed calls per batch size (the median is reported)."),
    policies: str = typer.Option("random,apl", help="Policies to time: apl, simple, greedy, random."),
    fight: str = typer.Option("patchwerk", help="patchwerk, aoe or route."),
    json_path: Path = typer.Option(Path("bench-results/sim.json"), "--json", help="Where to write the JSON."),
) -> None:
    """Simulator throughput (env steps per second) against batch size."""
    try:
        import sim
        from portunus.bench import bench_sim
        from sim.policies import POLICIES

        sizes = [int(size) for size in batch_sizes.split(",")]
        chosen = split_names(policies, tuple(POLICIES), "--policies")
        env = sim.make(fight=build_fight(fight, 300.0, 5, None, None, None))
    except (InputError, ValueError) as error:
        fail(error)
    table = Table(title=f"env steps per second, {env.fight.name}")
    for column in ("policy", "batch", "steps/s (median)"):
        table.add_column(column, justify="right")
    result = bench_sim(env, sizes, steps, repeats, chosen,
                       progress=lambda row: console.print(f"  {row['policy']:>6} batch {row['batch']:>6}: "
                                                          f"{row['steps_per_second']:,.0f} steps/s"))
    for row in result["results"]:
        table.add_row(row["policy"], str(row["batch"]), f"{row['steps_per_second']:,.0f}")
    console.print(table)
    console.print(f"device: {result['environment']['device']}, jax {result['environment']['jax']}")
    write_json(json_path, result)


@bench_app.command("selfplay")
def bench_selfplay_command(
    envs_per_fight: str = typer.Option("32,128", help="Environments per fight to measure."),
    config_path: Optional[Path] = typer.Option(None, "--config", help="Training TOML (default: built-in)."),
    repeats: int = typer.Option(3, min=1, help="Timed iterations per size."),
    json_path: Path = typer.Option(Path("bench-results/selfplay.json"), "--json", help="Where to write the JSON."),
) -> None:
    """Self-play training throughput (decisions/s of whole iterations) against batch size."""
    from portunus.bench import bench_selfplay
    from train.config import load_config

    try:
        config = load_config(config_path)
        sizes = [int(n) for n in envs_per_fight.split(",")]
    except (InputError, ValueError) as error:
        fail(error)
    result = bench_selfplay(sizes, config, repeats, progress=lambda row: console.print(f"  {row}"))
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
    iterations: int = typer.Option(500, min=2, help="Fights per policy and fight (same seeds for all)."),
    seed: int = typer.Option(0, help="Random seed."),
    json_path: Path = typer.Option(Path("bench-results/policies.json"), "--json", help="Where to write the JSON."),
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
        if not 1 <= simulations <= 4096:
            raise InputError(f"--simulations must be 1..4096, got {simulations}")
        config.simulations = simulations
    return config


@app.command("overlay")
def overlay_command(
    config_path: Optional[Path] = typer.Option(None, "--config", help="Overlay TOML (default "
                                               "~/.config/portunus/overlay.toml; created on exit)."),
    profile: Optional[Path] = typer.Option(None, help="Your SimC profile (default: the shipped character)."),
    policy: Optional[str] = typer.Option(None, help="apl, net or mcts (default: the config's)."),
    simulations: Optional[int] = typer.Option(None, help="Search simulations per refresh."),
    seconds: Optional[float] = typer.Option(None, help="Close after this many seconds (for scripts)."),
    planner: Optional[str] = typer.Option(None, help="Use a `portunus serve` service at this URL instead "
                                                     "of searching in-process."),
    planner_timeout: float = typer.Option(1.0, min=0.05, max=30.0, help="Seconds to wait for the service."),
    checkpoint: Optional[str] = checkpoint_option(),
) -> None:
    """The rotation helper: reads the addon's barcode from the screen and shows what to press."""
    try:
        from overlay.config import DEFAULT_PATH
        from overlay.launch import build_overlay
        from portunus.profile import load_profile
        from train.model import resolve_model

        config = _overlay_config(config_path, policy, simulations)
        app_window = build_overlay(config, config_path or DEFAULT_PATH, load_profile(profile),
                                   planner_url=planner, planner_timeout=planner_timeout,
                                   model=None if planner else resolve_model(checkpoint))
    except InputError as error:
        fail(error)
    app_window.run(max_seconds=seconds)


@app.command("demo")
def demo_command(
    profile: Optional[Path] = typer.Option(None, help="SimC profile (default: the shipped character)."),
    fight: str = typer.Option("patchwerk", help="patchwerk, aoe, route, or a route .toml file."),
    route: Optional[str] = typer.Option(None, help="Route for --fight route."),
    duration: float = typer.Option(300.0, help="Patchwerk length in seconds."),
    targets: int = typer.Option(5, help="Targets for --fight aoe."),
    policy: Optional[str] = typer.Option(None, help="apl, net or mcts (default: the config's)."),
    simulations: Optional[int] = typer.Option(None, help="Search simulations per refresh."),
    speed: float = typer.Option(1.0, min=0.1, max=20.0, help="Fight time per real second."),
    seed: int = typer.Option(0, help="Random seed of the fight."),
    config_path: Optional[Path] = typer.Option(None, "--config", help="Overlay TOML for window and settings."),
    seconds: Optional[float] = typer.Option(None, help="Close after this many seconds."),
    screenshot: Optional[Path] = typer.Option(None, help="Save a PNG of the window when closing "
                                                         "(needs --seconds)."),
    virtual: bool = typer.Option(False, "--virtual-display", help="Run on a private Xvfb display."),
    checkpoint: Optional[str] = checkpoint_option(),
) -> None:
    """The overlay on a simulated fight played in real time: the whole path except the game."""
    import contextlib

    try:
        from overlay.display import virtual_display
        from overlay.launch import build_demo
        from portunus.profile import load_profile
        from train.model import resolve_model

        config = _overlay_config(config_path, policy, simulations)
        chosen_fight = build_fight(fight, duration, targets, None, route, None)
        character = load_profile(profile)
        model = resolve_model(checkpoint)
    except InputError as error:
        fail(error)
    with (virtual_display() if virtual else contextlib.nullcontext()):
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
    simulations: str = typer.Option("64,256", help="Comma-separated simulation counts."),
    refreshes: int = typer.Option(40, min=5, help="Timed refreshes per count (after 3 warm-up)."),
    policy: str = typer.Option("mcts", help="apl or mcts."),
    json_path: Path = typer.Option(Path("bench-overlay.json"), "--json", help="Where to write the JSON."),
) -> None:
    """Grab + decode + search + UI update per refresh of the real overlay (median, p95)."""
    try:
        counts = [int(v) for v in simulations.split(",") if v.strip().isdigit() and 0 < int(v) <= 4096]
        if len(counts) != len(simulations.split(",")):
            raise InputError(f"--simulations must be comma-separated counts 1..4096, got '{simulations}'")
        if policy not in ("apl", "mcts"):
            raise InputError(f"--policy must be apl or mcts, got '{policy}'")
    except InputError as error:
        fail(error)
    from overlay.bench import bench_overlay
    from overlay.display import virtual_display

    with virtual_display():
        result = bench_overlay(counts, refreshes, mode=policy)
    table = Table(title="overlay refresh, one state (ms, median / p95)")
    for column in ("sims", "grab+decode", "state", "search", "UI", "total"):
        table.add_column(column, justify="right")
    for row in result["results"]:
        table.add_row(str(row["simulations"]), *(f"{row[k]['median_ms']:.1f} / {row[k]['p95_ms']:.1f}"
                                                 for k in ("grab_decode", "state", "search", "ui", "total")))
    console.print(table)
    write_json(json_path, result)


def _batch_sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(int(v) for v in text.split(",") if v.strip().isdigit() and 0 < int(v) <= 1024)
    if len(sizes) != len(text.split(",")):
        raise InputError(f"--batch-sizes must be comma-separated sizes 1..1024, got '{text}'")
    return sizes


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8765, min=1, max=65535, help="Port to listen on."),
    profile: Optional[Path] = typer.Option(None, help="SimC profile of the character (default: shipped)."),
    policy: str = typer.Option("mcts", help="apl, net (the network alone) or mcts."),
    simulations: int = typer.Option(64, help="Search simulations per state."),
    batch_sizes: str = typer.Option("1,4,16,64", help="Batch sizes compiled at start; requests are padded up."),
    max_wait_ms: float = typer.Option(30.0, min=0.0, max=100.0, help="Longest a batch waits for requests."),
    batch_gap_ms: float = typer.Option(3.0, min=0.0, max=100.0,
                                       help="A batch closes when no request came for this long."),
    search_threads: int = typer.Option(0, min=0, max=64, help="Slices of a batch searched at once "
                                       "(0: up to 4 on CPU, 1 on an accelerator)."),
    checkpoint: Optional[str] = checkpoint_option(),
) -> None:
    """The planner as a local HTTP + JSON service with dynamic batching (docs in README)."""
    from aiohttp import web

    from portunus.service import EngineConfig, PlanningEngine, make_app
    from portunus.service.server import freeze_heap

    try:
        profile_text = profile.read_text() if profile is not None else None
        config = EngineConfig(policy=policy, simulations=simulations, batch_sizes=_batch_sizes(batch_sizes),
                              profile_text=profile_text, checkpoint=checkpoint, search_threads=search_threads)
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
    console.print(f"ready on http://{host}:{port} ({engine.env.spec.name}, {engine.profile_name}, {policy}, "
                  f"{simulations} simulations; warm-up {seconds:.1f} s)")
    web.run_app(make_app(engine, max_wait_ms / 1000, batch_gap_ms / 1000), host=host, port=port, print=None,
                handle_signals=True)
    console.print("stopped")


@bench_app.command("serve")
def bench_serve_command(
    clients: str = typer.Option("1,8,64", help="Comma-separated concurrency levels."),
    seconds: float = typer.Option(10.0, min=1.0, max=120.0, help="Time per level."),
    max_requests: int = typer.Option(5000, min=1, help="Request budget per level."),
    simulations: int = typer.Option(64, help="Search simulations per state."),
    policy: str = typer.Option("mcts", help="apl or mcts."),
    batch_sizes: str = typer.Option("1,4,16,64", help="The service's batch sizes."),
    max_wait_ms: float = typer.Option(30.0, min=0.0, max=100.0, help="The service's --max-wait-ms."),
    batch_gap_ms: float = typer.Option(3.0, min=0.0, max=100.0, help="The service's --batch-gap-ms."),
    search_threads: int = typer.Option(0, min=0, max=64, help="The service's --search-threads."),
    checkpoint: str = typer.Option(None, help="The service's --checkpoint: a model directory or 'none' "
                                   "(default: the shipped model)."),
    json_path: Path = typer.Option(Path("bench-serve.json"), "--json", help="Where to write the JSON."),
) -> None:
    """Loopback load test of `portunus serve`: throughput, latency percentiles, batch sizes."""
    try:
        levels = [int(v) for v in clients.split(",") if v.strip().isdigit() and 0 < int(v) <= 256]
        if len(levels) != len(clients.split(",")):
            raise InputError(f"--clients must be comma-separated counts 1..256, got '{clients}'")
        _batch_sizes(batch_sizes)
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
    out: Path = typer.Option(None, help="Folder for the Lua spec tables (default: addon/Portunus/Specs)."),
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
