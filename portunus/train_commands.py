"""`portunus train | finetune | evaluate | plot`: thin layers over train/ (registered in cli.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from portunus import inputs
from portunus.console import console, fail, write_json
from portunus.errors import InputError
from train.config import FINETUNE, finetune_config


def _default_run() -> Path:
    return Path("checkpoints") / time.strftime("run-%Y%m%d-%H%M%S")


def _figure(metrics: dict, name: str, fmt: str) -> str:
    value = metrics.get(name)
    return "-" if value is None or value != value else format(value, fmt)


def _train(trainer, iterations: int, stop_after: Optional[int]) -> int:
    """Run with a progress bar showing the figures that say whether training works."""
    import jax

    fights = [name for name, _ in trainer.envs]
    columns = [TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[figures]}")]
    with Progress(*columns, console=console, disable=jax.process_index() != 0) as progress:
        task = progress.add_task("train", total=iterations, completed=trainer.start_iteration, figures="")

        def show(result) -> None:
            m = result.metrics
            figures = (f"loss {_figure(m, 'learn/loss', '.3f')}  entropy {_figure(m, 'learn/policy_entropy', '.2f')}"
                       f"  {_figure(m, 'selfplay/steps_per_second', ',.0f')} steps/s")
            for name in fights:
                if m.get(f"selfplay/{name}/clear_time") == m.get(f"selfplay/{name}/clear_time"):  # not NaN
                    figures += f"  {name} {_figure(m, f'selfplay/{name}/clear_time', '.0f')} s"
                elif m.get(f"selfplay/{name}/dps") == m.get(f"selfplay/{name}/dps"):
                    figures += f"  {name} {_figure(m, f'selfplay/{name}/dps', ',.0f')} DPS"
            progress.update(task, completed=result.iteration, figures=figures)

        return trainer.run(iterations, on_iteration=show, stop_after=stop_after)


def train_command(
    config_path: Optional[Path] = typer.Option(None, "--config", help="Training TOML (keys of train/config.py; "
                                                                      "default: the built-in config).",
                                               callback=inputs.text_file_option()),
    run: Optional[Path] = typer.Option(None, help="Run directory (default: checkpoints/run-DATE-TIME).",
                                       callback=inputs.output_dir_option()),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --run from its newest readable "
                                                        "checkpoint."),
    iterations: Optional[int] = typer.Option(None, help="Total iterations (overrides the config).",
                                             callback=inputs.number_option(1, 10_000_000, integer=True)),
    seed: Optional[int] = typer.Option(None, help="Seed (overrides the config; 0 .. 2^32-1).",
                                       callback=inputs.seed_option()),
    coordinator: Optional[str] = typer.Option(None, help="Multi-host: HOST:PORT of process 0."),
    num_processes: Optional[int] = typer.Option(None, help="Multi-host: number of processes.",
                                                callback=inputs.number_option(1, 65536, integer=True)),
    process_id: Optional[int] = typer.Option(None, help="Multi-host: this process's index.",
                                             callback=inputs.number_option(0, 65535, integer=True)),
    stop_after: Optional[int] = typer.Option(None, hidden=True, help="Exit abruptly after this iteration, "
                                                                     "without saving (tests a kill).",
                                             callback=inputs.number_option(0, 10_000_000, integer=True)),
) -> None:
    """AlphaZero self-play training; checkpoints, metrics.jsonl and TensorBoard files in the run directory."""
    try:
        from train.checkpoints import read_config
        from train.config import load_config
        from train.distributed import initialize
        from train.trainer import Trainer

        initialize(coordinator, num_processes, process_id)
        if resume and run is None:
            raise InputError("--resume needs --run: the run directory to continue")
        run = inputs.output_dir(run or _default_run(), "--run")
        if resume and config_path is None:
            config = read_config(run)
        else:
            config = load_config(config_path)
        config = config.replace(iterations=iterations, seed=seed)
        trainer = Trainer(config, run, resume=resume)
    except InputError as error:
        fail(error)
    for note in trainer.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"run {run}: {len(trainer.envs)} fights x {config.envs_per_fight} environments on "
                  f"{trainer.mesh.devices.size} device(s), {config.num_simulations} simulations per decision"
                  + (f"; resumed at iteration {trainer.start_iteration}" if resume else ""))
    try:
        done = _train(trainer, config.iterations, stop_after)
    finally:
        trainer.close()
    console.print(f"stopped at iteration {done}; checkpoints in {run / 'steps'}, "
                  f"curves: portunus plot {run}")


def finetune_command(
    base: Path = typer.Option(..., "--from", help="Base model: a run directory or an exported model."),
    profile: Path = typer.Option(..., help="Your SimC profile: the character to adapt to.",
                                 callback=inputs.text_file_option()),
    run: Optional[Path] = typer.Option(None, help="Run directory (default: checkpoints/run-DATE-TIME).",
                                       callback=inputs.output_dir_option()),
    iterations: Optional[int] = typer.Option(None, help=f"Iterations (default: {FINETUNE.iterations}).",
                                             callback=inputs.number_option(1, 10_000_000, integer=True)),
    learning_rate_scale: Optional[float] = typer.Option(None, help="Learning rate = base's x this (0.0001-10); "
                                                        f"default: a rate of {FINETUNE.learning_rate:g}, whatever "
                                                        "the base's.",
                                                        callback=inputs.number_option(1e-4, 10.0)),
    simulations: Optional[int] = typer.Option(None, help="Search simulations per self-play decision (default: the "
                                              "base's); more cost time, not steps.",
                                              callback=inputs.number_option(1, 4096, integer=True)),
    stagger: Optional[int] = typer.Option(None, help="Each environment first plays 0..N APL decisions, unrecorded, "
                                          "so a short run also reaches a route's later pulls (default: the base's).",
                                          callback=inputs.number_option(0, 10_000, integer=True)),
    envs_per_fight: Optional[int] = typer.Option(None, help="Environments per fight (default: "
                                                 f"{FINETUNE.envs_per_fight}); fewer with more iterations = more "
                                                 "rounds in the same steps.",
                                                 callback=inputs.number_option(1, 65_536, integer=True)),
    updates_per_iteration: Optional[int] = typer.Option(None, help="Learner updates per iteration "
                                                        f"(default: {FINETUNE.updates_per_iteration}).",
                                                        callback=inputs.number_option(1, 100_000, integer=True)),
    fights: Optional[str] = typer.Option(None, help="Fights to play, comma-separated (default: the base's), e.g. "
                                         "the ones your character plays most."),
    replay_size: Optional[int] = typer.Option(None, help="Decisions the replay buffer keeps "
                                              f"(default: {FINETUNE.replay_iterations} iterations' worth).",
                                              callback=inputs.number_option(1, 2**31 - 1, integer=True)),
    rollout_steps: Optional[int] = typer.Option(None, help="APL decisions per search leaf in self-play (0-64; "
                                                           "default: the base model's, as it is searched).",
                                                callback=inputs.number_option(0, 64, integer=True)),
    policy_target: Optional[str] = typer.Option(None, help="What the policy learns from the search: 'argmax' "
                                                "(its best action) or 'weights' (its improved policy); "
                                                f"default: {FINETUNE.policy_target}."),
    seed: Optional[int] = typer.Option(None, help="Seed (default: the base's; 0 .. 2^32-1).",
                                       callback=inputs.seed_option()),
    warmstart: int = typer.Option(0, help="First iterations imitate the profile's APL instead of searching "
                                  "(counted in --iterations).",
                                  callback=inputs.number_option(0, 10_000_000, integer=True)),
    compare: bool = typer.Option(True, help="Evaluate base and fine-tuned on the profile afterwards."),
    episodes: int = typer.Option(16, help="Episodes per policy in the comparison (2-100,000).",
                                 callback=inputs.number_option(2, 100_000, integer=True)),
) -> None:
    """Adapt a base model to one character (stats, talents) with a fraction of the training."""
    try:
        from portunus.profile import load_profile
        from train.model import load_model
        from train.trainer import Trainer

        load_profile(profile)  # a bad profile fails here, naming its line
        model = load_model(base)
        config = finetune_config(
            read_config_of(model), str(profile.absolute()), model.search_settings(rollout_steps)["rollout_steps"],
            iterations=iterations, learning_rate_scale=learning_rate_scale, simulations=simulations,
            stagger=stagger, envs_per_fight=envs_per_fight, updates_per_iteration=updates_per_iteration,
            fights=None if fights is None else split_fights(fights), replay_size=replay_size,
            policy_target=policy_target, seed=seed, warmstart=warmstart)
        run = inputs.output_dir(run or _default_run(), "--run")
        trainer = Trainer(config, run, init_params=model.params)
    except InputError as error:
        fail(error)
    console.print(f"fine-tuning {base} on {profile} for {config.iterations} iterations -> {run}")
    try:
        _train(trainer, config.iterations, None)
    finally:
        trainer.close()
    if compare:
        _evaluate_and_report({"base": model, "fine-tuned": load_model(run)}, profile,
                             ",".join(config.fights), episodes, 64, 0, run / "evaluation.json", run / "evaluation.png")


def split_fights(text: str) -> tuple[str, ...]:
    """`--fights` as fight names: commas separate fights, except before a fight's own
    `key=value` option ("patchwerk:300,bloodlust=90,aoe:5" is two fights)."""
    names: list[str] = []
    for part in (part.strip() for part in text.split(",")):
        if "=" in part and names:
            names[-1] += f",{part}"
        else:
            names.append(part)
    return tuple(names)


def fight_table(outcome, seed: int) -> Table:
    """One fight's evaluation as a table: each policy's DPS (and clear), its paired difference to
    the APL in the fight's objective, and on a route scored by own damage too, that and the score."""
    title = f"{outcome.fight}: {outcome.episodes} paired episodes, seed {seed}"
    if outcome.tests:
        title += f"\n[dim]tests: {outcome.tests}[/dim]"
    table = Table(title=title)
    clears = outcome.objective == "clear_time"
    scored = any("score" in entry for entry in outcome.results.values())
    measure = "clear time" if clears else "DPS"
    versus_columns = ((outcome.objective, "percent", f"{measure} vs APL, % (95 %)"),) + (
        (("damage", "percent", "own damage vs APL, % (95 %)"),
         ("score", "difference", "score vs APL, s (95 %)")) if scored else ())
    for column in ("policy", "DPS (95 %)") + (("clear time s (95 %)",) if clears else ()) + tuple(
            heading for _, _, heading in versus_columns):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for label, entry in outcome.results.items():
        clear = entry.get("clear_time")
        dps = entry["dps"]
        cells = [label, f"{dps['mean']:,.0f} [{dps['low']:,.0f}, {dps['high']:,.0f}]"]
        if clears:
            cells.append(f"{clear['mean']:.1f} [{clear['low']:.1f}, {clear['high']:.1f}]")
        for measure_name, kind, _ in versus_columns:
            pair = outcome.paired.get(label, {}).get(measure_name)
            if pair is None:
                cells.append("baseline")
                continue
            figure = pair[kind]
            verdict = " better" if pair["better"] else " worse" if pair["worse"] else ""
            cells.append(f"{figure['mean']:+.2f} [{figure['low']:+.2f}, {figure['high']:+.2f}]{verdict}")
        table.add_row(*cells)
    return table


def _evaluate_and_report(models: dict, profile: Optional[Path], fights, episodes: int, simulations: int,
                         seed: int, json_path: Path, plot_path: Optional[Path], apls: Optional[dict] = None,
                         half_width: Optional[float] = None, max_episodes: Optional[int] = None,
                         block: Optional[int] = None, tests: Optional[dict] = None,
                         headroom: Optional[tuple] = None, planners: Optional[dict] = None,
                         model_kinds: Optional[tuple[str, ...]] = None, timeline: Optional[int] = None,
                         rollout_steps: Optional[int] = None, search_value: Optional[str] = None) -> dict:
    """Evaluate, show one table per fight as it finishes, write the JSON and the plot.
    `fights`: comma-separated fight names, or (label, fight name) pairs (the suite)."""
    from portunus.plots import evaluation_bars
    from portunus.profile import load_profile
    from train.evaluate import MODEL_KINDS, evaluate, seed_record, to_json

    names = split_fights(fights) if isinstance(fights, str) else tuple(fights)
    model_kinds = model_kinds or MODEL_KINDS

    def show(outcome) -> None:
        console.print(fight_table(outcome, seed))
        if outcome.stopped and half_width is not None:
            console.print(f"[dim]{outcome.fight}: {outcome.stopped}[/dim]")
        if outcome.timeline is not None:
            show_timeline(outcome)

    def show_timeline(outcome) -> None:
        from train.evaluate import BASELINE
        from train.timeline import largest_differences

        timeline = outcome.timeline
        edges = timeline["window_edges_s"]
        labels = list(timeline["policies"])
        table = Table(title=f"{outcome.fight}: casts per episode where policies differ most "
                            f"(first {timeline['episodes']} episodes)")
        for column in ["ability"] + labels:
            table.add_column(column, justify="left" if column == "ability" else "right")
        for name, totals in largest_differences(timeline, BASELINE):
            table.add_row(name, *(f"{totals[label]:.2f}" for label in labels))
        console.print(table)
        windows = Table(title=f"{outcome.fight}: damage per window, millions per episode")
        for column in ["window"] + labels:
            windows.add_column(column, justify="right")
        for index, (low, high) in enumerate(zip(edges, edges[1:])):
            windows.add_row(f"{low:.0f}-{high:.0f} s",
                            *(f"{timeline['policies'][label]['damage'][index] / 1e6:.2f}" for label in labels))
        console.print(windows)

    columns = [TextColumn("[bold]evaluate {task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total} episodes"), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        tasks: dict[str, int] = {}

        def on_block(label: str, done: int, planned: int) -> None:
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=planned)
            progress.update(tasks[label], completed=done, total=planned)

        outcomes = evaluate(models, names, episodes, simulations, seed, load_profile(profile),
                            on_progress=lambda label: on_block(label, 0, max_episodes or episodes),
                            on_result=show, apls=apls, half_width=half_width, max_episodes=max_episodes,
                            block=block, on_block=on_block, tests=tests, headroom=headroom, planners=planners,
                            model_kinds=model_kinds, timeline=timeline, rollout_steps=rollout_steps,
                            search_value=search_value)
    result = to_json(outcomes, {
        "episodes": episodes, "half_width_percent": half_width, "max_episodes": max_episodes, "block": block,
        "simulations": simulations, "model_policies": list(model_kinds), "timeline_windows": timeline,
        "model_search": {label: model.search_settings(rollout_steps, search_value) for label, model in models.items()},
        "profile": profile.name if profile else "default",
        "baseline": "apl (the spec's default APL)",
        "apls": {label: str(path) for label, path in (apls or {}).items()},
        "planners": {label: {"policy": config.policy, "simulations": config.num_simulations,
                             "expected_value": config.expected_value,
                             "worlds": config.worlds, "rollout_steps": config.rollout_steps,
                             "prior": config.prior, "apl_prior_logit": config.apl_prior_logit}
                     for label, config in (planners or {}).items()},
        "headroom": None if headroom is None else {
            "policy": "lookahead over the APL (train/headroom.py): every legal action tried, each followed by "
                      "the APL to the end under shared fresh keys, the best mean taken",
            "samples_per_action": headroom[0], "actions_per_decision": headroom[1],
            "horizon_seconds": headroom[2]},
        "seeds": seed_record(seed, {outcome.fight: outcome.episodes for outcome in outcomes}, models),
        "models": {label: model.identity() for label, model in models.items()}})
    write_json(json_path, result)
    if plot_path is not None:
        evaluation_bars(result, plot_path)
        console.print(f"wrote {plot_path}")
    return result


def evaluate_command(
    checkpoints: Optional[list[Path]] = typer.Argument(None, help="Models to evaluate: runs or exported models."),
    apl: Optional[list[Path]] = typer.Option(None, help="Another APL file to compare with the default APL "
                                                        "(repeatable).", callback=inputs.text_file_option()),
    profile: Optional[Path] = typer.Option(None, help="SimC profile, or a shipped character's name "
                                                      "(default: the shipped Templar).",
                                           callback=inputs.text_file_option(may_be_name=True)),
    fights: str = typer.Option("patchwerk,aoe,route:sample_keystone",
                               help="Fights, as in the training config (a fight may add ,bloodlust=SECONDS|none; "
                                    "an aoe or route ,own_damage=WEIGHT)."),
    suite: bool = typer.Option(False, help="Play the scenario suite instead of --fights (each scenario "
                                           "states the decision it tests)."),
    scenarios: Optional[str] = typer.Option(None, help="With --suite: only these scenarios (comma-separated)."),
    episodes: int = typer.Option(32, help="Episodes per policy and fight (same episodes for all; 2-100,000); "
                                          "with --half-width, the block size.",
                                 callback=inputs.number_option(2, 100_000, integer=True)),
    half_width: Optional[float] = typer.Option(None, help="Play blocks of --episodes until every paired "
                                                          "interval is within +- this percent of the APL "
                                                          "(0.001-100).",
                                               callback=inputs.number_option(0.001, 100.0)),
    max_episodes: int = typer.Option(1024, help="With --half-width: at most this many episodes per fight "
                                                "(2-100,000).",
                                     callback=inputs.number_option(2, 100_000, integer=True)),
    simulations: int = typer.Option(64, help="Search simulations for network + MCTS (1-4096).",
                                    callback=inputs.number_option(1, 4096, integer=True)),
    mcts: Optional[list[str]] = typer.Option(None, help="Also play the simulator-only planner (APL prior, APL "
                                                        "rollout values, --simulations): 'expected' searches "
                                                        "the expected-value simulator, 'futures:N' N sampled "
                                                        "futures per decision; '@S' after either plays it "
                                                        "with S simulations instead (repeatable)."),
    headroom: bool = typer.Option(False, help="Also play the headroom lookahead: at every decision each legal "
                                              "action followed by the APL to the end, best mean taken (slow)."),
    headroom_samples: int = typer.Option(8, help="Headroom: rollouts per action (1-256).",
                                         callback=inputs.number_option(1, 256, integer=True)),
    headroom_actions: int = typer.Option(12, help="Headroom: actions tried per decision (2-128).",
                                         callback=inputs.number_option(2, 128, integer=True)),
    headroom_horizon: Optional[float] = typer.Option(None, help="Headroom: seconds of rollout, scored by damage "
                                                               "in them (default: to the fight's end).",
                                                     callback=inputs.number_option(1.0, 3600.0)),
    network_only: bool = typer.Option(False, help="Play each model's network alone, not network + MCTS: "
                                                  "fast, for the many episodes a tight interval needs."),
    timeline: Optional[int] = typer.Option(None, help="Also count each ability's casts and the damage in this "
                                                      "many windows of fight time (2-60), on the first block's "
                                                      "episodes: where policies differ, in the JSON and a table.",
                                           callback=inputs.number_option(2, 60, integer=True)),
    rollout_steps: Optional[int] = typer.Option(None, help="APL decisions per leaf in the models' network + "
                                                           "MCTS (0-64; default: each model's own, its "
                                                           "model.json 'search' or training config).",
                                                callback=inputs.number_option(0, 64, integer=True)),
    search_value: Optional[str] = typer.Option(None, help="Leaf values in the models' network + MCTS: 'rollout' "
                                                          "(APL rollouts, then a steady-rate tail), 'network' (the "
                                                          "value head) or 'bootstrap' (the rollouts, then the value "
                                                          "head); default: each model's own."),
    seed: int = typer.Option(0, help="Evaluation seed (0 .. 2^32-1); episodes never share a start with "
                                     "training's.", callback=inputs.seed_option()),
    json_path: Path = typer.Option(Path("bench-results/evaluation.json"), "--json", help="Where to write JSON.",
                                   callback=inputs.output_file_option()),
    plot: Optional[Path] = typer.Option(Path("bench-results/evaluation.png"), help="Paired differences (PNG).",
                                        callback=inputs.output_file_option()),
) -> None:
    """Policies against the default APL on the same episodes: each one's mean, and the paired
    difference to the APL with its 95 % interval."""
    try:
        from train.model import load_model
        from train.scenarios import scenario_fights

        from train.evaluate import planner_setting

        checkpoints, apl = checkpoints or [], apl or []
        planners = dict(planner_setting(text, simulations) for text in mcts or [])
        if not checkpoints and not apl and not headroom and not planners:
            raise InputError("nothing to compare with the default APL: give a model (run or exported model), "
                             "--apl FILE, --mcts or --headroom")
        if network_only and not checkpoints:
            raise InputError("--network-only plays a model's network: give a model (run or exported model)")
        if search_value is not None:
            from search.types import VALUES

            if search_value not in VALUES:
                raise InputError(f"--search-value must be one of {', '.join(VALUES)}, got '{search_value}'")
            if not checkpoints or network_only:
                raise InputError("--search-value sets the leaves of a model's network + MCTS: give a model "
                                 "(run or exported model), without --network-only")
        models: dict = {}
        for path in checkpoints:
            label = "model" if len(checkpoints) == 1 else path.name
            while label in models:
                label += "'"
            models[label] = load_model(path)
        apls: dict = {}
        for path in apl:
            label = f"apl:{path.stem}"
            while label in apls:
                label += "'"
            apls[label] = path
        tests = None
        if suite:
            chosen = scenario_fights(None if scenarios is None else tuple(s.strip() for s in scenarios.split(",")))
            fight_list = [(scenario.name, scenario.fight) for scenario in chosen]
            tests = {scenario.name: scenario.tests for scenario in chosen}
        elif scenarios is not None:
            raise InputError("--scenarios needs --suite")
        else:
            fight_list = fights
        _evaluate_and_report(models, profile, fight_list, episodes, simulations, seed, json_path, plot, apls,
                             half_width, max_episodes if half_width is not None else None,
                             episodes if half_width is not None else None, tests,
                             (headroom_samples, headroom_actions, headroom_horizon) if headroom else None,
                             planners, ("net",) if network_only else None, timeline, rollout_steps, search_value)
    except InputError as error:
        fail(error)


def plot_command(
    run: Path = typer.Argument(..., help="A training run directory."),
    out: Optional[Path] = typer.Option(None, help="PNG to write (default: RUN/curves.png).",
                                       callback=inputs.output_file_option()),
) -> None:
    """Learning curves of a run, from its metrics.jsonl."""
    from portunus.plots import learning_curves
    from train.logbook import read_metrics

    try:
        records = read_metrics(run)
        if not records:
            raise InputError(f"{run}/metrics.jsonl is empty: nothing logged yet")
    except InputError as error:
        fail(error)
    out = out or run / "curves.png"
    learning_curves(records, out, f"{run.name}: {len(records)} logged iterations")
    console.print(f"wrote {out}")


def export_command(
    run: Path = typer.Argument(..., help="A training run directory (its newest step) or RUN/steps/N."),
    out: Path = typer.Argument(..., help="Model directory to create (model.json + params.msgpack).",
                               callback=inputs.output_dir_option()),
) -> None:
    """Export a run's network as a small model directory for search, the overlay and the service."""
    try:
        import sim
        from train.envs import parse_fight
        from train.model import export_model, load_model, model_info

        from portunus.profile import portable_profile

        model = load_model(run)
        config = read_config_of(model)
        config = config.replace(profiles=[portable_profile(name) for name in config.profiles])
        env = sim.make(config.spec, None, parse_fight(config.fights[0], config.slots))
        info = {**model_info(config, env), "exported_from": model.identity(), "step": model.info.get("step")}
        export_model(out, model.params, info)
    except InputError as error:
        fail(error)
    console.print(f"wrote {out} (step {info['step']} of {run})")


def read_config_of(model):
    from train.config import config_from_dict

    return config_from_dict(model.info["config"], f"{model.path} config")
