"""`portunus serve`: a real service process on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from portunus.protocol import snapshot_to_json
from portunus.service import EngineConfig, PlanningEngine
from portunus.service.loadtest import _load, running_service

SIMULATIONS = 8
ROLLOUT_STEPS = 3   # not the default 8: the service's --rollout-steps must reach its searches
pytestmark = pytest.mark.xdist_group("service")   # one service process for the whole module


READ_TIMEOUT = 3     # the service's --read-timeout here: seconds for a request's headers and body
FIELD_ERROR = re.compile(r"^[A-Za-z_][\w-]*(\[\d+\]|\.[A-Za-z_]\w*)*: \S")   # "<field>: <what is wrong>"


def post(url: str, body, headers=None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


# Session scope: xdist may run another module's test between two of these, which would
# stop a module-scoped service and compile a new one.
@pytest.fixture(scope="session")
def service():
    with running_service(["--policy", "mcts", "--checkpoint", "none", "--simulations", str(SIMULATIONS),
                          "--rollout-steps", str(ROLLOUT_STEPS), "--batch-sizes", "1,8",
                          "--max-wait-ms", "20", "--read-timeout", str(READ_TIMEOUT)]) as (url, process):
        yield url, process
    assert process.returncode == 0, "the service did not shut down cleanly on SIGTERM"


@pytest.fixture(scope="module")
def snapshots():
    return sim.sample_snapshots(12)


def without_timing(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("search_seconds", "batch_size")}


def test_api_matches_in_process_search(service, snapshots):
    url, _ = service
    engine = PlanningEngine(EngineConfig(policy="mcts", simulations=SIMULATIONS, batch_sizes=(1, 8), checkpoint="none",
                                         search_threads=2, rollout_steps=ROLLOUT_STEPS))
    singles = []
    for snapshot in snapshots[3:6]:
        status, body = post(f"{url}/v1/recommend", {"snapshot": snapshot_to_json(snapshot), "tree_depth": 2})
        assert status == 200, body
        remote = body["recommendations"][0]
        local = engine.plan([engine.state(snapshot)], depth=2)[0]
        assert json.loads(json.dumps(without_timing(local))) == without_timing(remote)
        singles.append(without_timing(local))
    # Five states: two slices (4 + 1, padded to 4) searched on two threads, answered in order
    # (equal up to float rounding: the slices run a program compiled for another batch size).
    batch = engine.plan([engine.state(s) for s in snapshots[3:6] + snapshots[3:5]], depth=2)
    assert engine.slice_sizes == (1, 4) and batch[0]["batch_size"] == 8
    for got, expected in zip(batch, singles + singles[:2], strict=True):
        assert (got["best_action"], got["hold_action"]) == (expected["best_action"], expected["hold_action"])
        ranked = [[(a["name"], a["visits"]) for a in r["actions"]] for r in (got, expected)]
        assert ranked[0] == ranked[1]
        assert [a["q"] for a in got["actions"]] == pytest.approx([a["q"] for a in expected["actions"]], rel=1e-6)


def _retail_game(env, frames: int):
    """Retail-combat snapshots of one APL fight, with the player's own cast times."""
    import jax
    import numpy as np

    from sim.apl import load_apl
    from sim.retail import retail_snapshot

    apl, step = jax.jit(load_apl(env, warn=None)), jax.jit(env.step)
    owner = np.asarray(env.spec.action_ability)
    state, pressed, out = env.init(jax.random.key(5)), np.full(env.spec.num_abilities, np.nan), []
    for frame in range(frames):
        now = float(state.time)
        out.append(retail_snapshot(env, state, frame, now - pressed))
        action = int(apl(state))
        if owner[action] < env.spec.num_abilities:
            pressed[owner[action]] = now
        state = step(state, action)
    return out


def test_a_session_follows_its_client_like_the_overlay_and_sessions_are_bounded():
    """With a session, the service's belief is the overlay's: copies of that client's fight
    that replay its casts (the same fields as an in-process sim.FollowedBelief), not rules;
    the least recently used session is dropped beyond max_sessions."""
    import numpy as np

    from portunus.service.engine import Belief
    from sim.belief import buff_uptime, has_hidden

    engine = PlanningEngine(EngineConfig(policy="apl", batch_sizes=(1,), checkpoint="none", belief_particles=8,
                                         max_sessions=2))
    env = engine.env
    followed, prior = sim.FollowedBelief(env, 8), buff_uptime(env)
    snapshots = [s for s in _retail_game(env, 10) if has_hidden(s)]
    assert len(snapshots) >= 6
    differs = False
    for snapshot in snapshots:
        entry = engine.state(snapshot, session="player-1")
        expected = followed.fields(snapshot, engine.config.belief_samples, buff_prior=prior)
        ruled = engine.state(snapshot)                        # no session: rules drawn afresh
        assert isinstance(entry, Belief)
        for got, want, rule in zip(entry.samples, expected, ruled.samples):
            for name in ("recharge", "charges", "buff_remaining", "buff_stacks"):
                np.testing.assert_array_equal(got[name], want[name], err_msg=name)
                differs |= not np.array_equal(got[name], rule[name])
    assert differs
    engine.state(snapshots[-1], session="player-2")
    engine.state(snapshots[-1], session="player-3")
    assert engine.sessions == 2 and "player-1" not in engine._sessions


def test_a_snapshot_that_hides_values_is_planned_over_a_belief(service):
    """A retail-combat snapshot (secret cooldowns and auras) is searched as belief samples and
    merged, as the overlay does in-process: the service's answer is the planner's own merge."""
    import jax

    from search import Planner, SearchConfig, state_from_sim
    from sim.belief import buff_uptime, has_hidden, sample_beliefs
    from sim.retail import retail_snapshot
    from portunus.service.engine import Belief

    url, _ = service
    engine = PlanningEngine(EngineConfig(policy="mcts", simulations=SIMULATIONS, batch_sizes=(1, 8), checkpoint="none",
                                         search_threads=2, rollout_steps=ROLLOUT_STEPS))
    env = engine.env
    snapshot = retail_snapshot(env, state_from_sim(env, 20.0, jax.random.key(3)), frame=77)
    assert has_hidden(snapshot)
    entry = engine.state(snapshot)
    assert isinstance(entry, Belief) and len(entry.samples) == engine.config.belief_samples == 4
    local = engine.plan([entry], depth=1)[0]
    assert local["belief_samples"] == 4 and sum(a["visits"] for a in local["actions"]) == 4 * SIMULATIONS
    beliefs = sample_beliefs(env, snapshot, 4, seed=77, buff_prior=buff_uptime(env))
    merged = Planner(env, SearchConfig(num_simulations=SIMULATIONS, rollout_steps=ROLLOUT_STEPS)).recommend_belief(beliefs, jax.random.key(0))
    assert local["best_action"] == merged.action_names[merged.best_action[0]]
    assert [a["name"] for a in local["actions"]] == [a["name"] for a in merged.to_dict(0)["actions"]]
    status, body = post(f"{url}/v1/recommend", {"snapshot": snapshot_to_json(snapshot), "tree_depth": 1})
    assert status == 200, body
    remote = body["recommendations"][0]
    assert remote["belief_samples"] == 4 and remote["best_action"] == local["best_action"]
    status, body = post(f"{url}/v1/recommend", {"snapshot": snapshot_to_json(snapshot), "session": "me-1"})
    assert status == 200 and body["recommendations"][0]["belief_samples"] == 4, body
    assert get(f"{url}/v1/health")["sessions"] >= 1
    for bad in ("", "a b", "x" * 65, 7):
        status, body = post(f"{url}/v1/recommend", {"snapshot": snapshot_to_json(snapshot), "session": bad})
        assert status == 400 and body["error"].startswith("session: must be"), (bad, body)


def test_concurrent_requests_share_batches(service, snapshots):
    url, _ = service
    before = get(f"{url}/v1/metrics")
    bodies = [json.dumps({"snapshot": snapshot_to_json(s), "tree_depth": 0}).encode() for s in snapshots]
    result = asyncio.run(_load(url, bodies, clients=8, seconds=20, max_requests=48))
    assert result["failed"] == 0 and result["requests"] == 48
    after = get(f"{url}/v1/metrics")
    grown = {int(k): v - before["batch_states"].get(k, 0) for k, v in after["batch_states"].items()}
    assert any(size > 1 and count > 0 for size, count in grown.items()), grown
    assert after["requests"] - before["requests"] == 48 and after["latency_ms"]["p95"] > 0
    status, body = post(f"{url}/v1/recommend", {"snapshots": [snapshot_to_json(s) for s in snapshots[:5]],
                                                 "tree_depth": 1})
    assert status == 200 and len(body["recommendations"]) == 5


def test_bad_input_is_a_4xx_naming_the_field_and_service_keeps_serving(service, snapshots):
    url, _ = service
    good = snapshot_to_json(snapshots[0])
    other_spec = {**good, "spec_id": 62}
    short_tables = {**good, "cooldowns": good["cooldowns"][:3]}
    bad_enemy = {**good, "enemies": [{"helth": 5}]}
    cases = [
        (b"{not json", 400, "body: not valid JSON"),
        (json.dumps([1, 2]).encode(), 400, "body: must be a JSON object"),
        ({"snapshot": good, "colour": 1}, 400, "colour: unknown field"),
        ({"snapshot": good, "tree_depth": 9}, 400, "tree_depth: must be a whole number 0..6"),
        ({"snapshot": {**good, "gcd_remaining": -1}}, 400, "snapshot.gcd_remaining: must be >= 0"),
        ({"snapshot": bad_enemy}, 400, "snapshot.enemies[0].helth: unknown field"),
        ({"snapshots": [good, {**good, "enemies": [{"health_pct": 150}]}]}, 400,
         "snapshots[1].enemies[0].health_pct: must be a percentage"),
        ({"snapshot": other_spec}, 422, "snapshot: snapshot.spec_id: the game reports spec 62"),
        ({"snapshot": short_tables}, 422, "snapshot.cooldowns: 3 entries"),
        ({"snapshots": [good] * 9}, 413, "snapshots: at most 8 per request"),
        (b"{" + b" " * 300_000 + b"}", 413, "body: larger than"),
        ({"snapshots": []}, 400, "snapshots: must be a non-empty list"),
    ]
    for body, status, message in cases:
        got, answer = post(f"{url}/v1/recommend", body)
        assert got == status and message in answer["error"], (message, got, answer)
        ok, _ = post(f"{url}/v1/recommend", {"snapshot": good})
        assert ok == 200
    got, answer = post(f"{url}/v1/configure", {"policy": "net"})
    assert got == 400 and "policy: 'net' needs a trained model" in answer["error"]
    got, answer = post(f"{url}/v1/configure", {"policy": "greedy"})
    assert got == 400 and "policy: must be one of apl, net, mcts" in answer["error"]
    got, answer = post(f"{url}/v1/configure", {"simulations": 0})
    assert got == 400 and "simulations: must be a whole number 1..4096" in answer["error"]
    assert get(f"{url}/v1/metrics")["client_errors"] >= len(cases) + 2
    assert get(f"{url}/v1/health")["simulations"] == SIMULATIONS
    assert get(f"{url}/v1/health")["rollout_steps"] == ROLLOUT_STEPS


def raw_body(body: dict, literal: str) -> bytes:
    """`body` as JSON with the string "@" replaced by a raw JSON literal (NaN, 1e400, 10^5000 ...)."""
    return json.dumps(body).replace('"@"', literal).encode()


def at(snapshot: dict, path: tuple, value="@") -> dict:
    """A deep copy of `snapshot` with the value at `path` (keys and list indices) replaced."""
    copy = json.loads(json.dumps(snapshot))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


# The hostile inputs of issue 18: each must be a 4xx naming the field, never a 5xx.
SNAPSHOT_NUMBERS = [(path, literal) for path in [("enemies", 0, "health"), ("resources", 0, "current"),
                                                 ("cooldowns", 0, "charges"), ("frame",), ("spec_id",)]
                    for literal in ("Infinity", "-Infinity", "NaN", "1e400")]
BEYOND_WIRE = [(("buffs", 0, "stacks"), literal) for literal in (str(2**31), "3e9", str(2**64), "255")] + \
              [(("cooldowns", 0, "charges"), "300"), (("spec_id",), "70000"), (("enemies", 0, "health"), str(2**32))]


def field_of(path: tuple) -> str:
    return "snapshot" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


@pytest.mark.parametrize("path, literal", SNAPSHOT_NUMBERS + BEYOND_WIRE,
                         ids=[f"{'.'.join(map(str, path))}={literal[:12]}" for path, literal in SNAPSHOT_NUMBERS + BEYOND_WIRE])
def test_non_finite_and_out_of_range_numbers_are_a_400_naming_the_field(service, snapshots, path, literal):
    url, _ = service
    body = {"snapshot": at(snapshot_to_json(snapshots[0]), path)}
    status, answer = post(f"{url}/v1/recommend", raw_body(body, literal))
    assert status == 400 and answer["error"].startswith(field_of(path) + ": "), answer


DIGITS = "9" * 5000
NESTED = [("[" * depth + "]" * depth) for depth in (2_000, 100_000)]


@pytest.mark.parametrize("endpoint, body, status, message", [pytest.param(*case, id=f"{case[0]}-{case[3]}-{i}") for i, case in enumerate([
    ("recommend", '{"snapshot": {"spec_id": %s}}' % DIGITS, 400, "snapshot.spec_id: must be a finite number"),
    ("recommend", '{"snapshot": {"frame": 1}, "tree_depth": %s}' % DIGITS, 400, "tree_depth: must be a finite"),
    ("configure", '{"simulations": %s}' % DIGITS, 400, "simulations: must be a finite number"),
    ("configure", '{"simulations": Infinity}', 400, "simulations: must be a finite number"),
    ("configure", '{"simulations": 1e400}', 400, "simulations: must be a finite number"),
    ("configure", '{"simulations": 3e9}', 400, "simulations: must be a whole number 1..4096"),
    *[(endpoint, '{"snapshot": %s}' % nested, 400, "body: nested")
      for endpoint in ("recommend", "configure") for nested in NESTED],
    ("configure", '{"profile": %s}' % NESTED[0], 400, "body: nested"),
    ("recommend", '"\\' * 120_000, 400, "body: not valid JSON"),     # quadratic for a string regex
])])
def test_huge_literals_and_deep_nesting_are_a_400(service, endpoint, body, status, message):
    url, _ = service
    start = time.monotonic()
    got, answer = post(f"{url}/v1/{endpoint}", body.encode())
    assert got == status and answer["error"].startswith(message), answer
    assert time.monotonic() - start < 10
    assert get(f"{url}/v1/health")["simulations"] == SIMULATIONS


@pytest.mark.parametrize("line", ["gear_strength=nan", "gear_haste_rating=inf", "gear_haste_rating=1e308",
                                  "gear_crit_rating=-inf"])
def test_a_profile_with_non_finite_stats_is_refused_with_key_and_line(service, line):
    from portunus.profile import DEFAULT_PROFILE

    url, _ = service
    text = DEFAULT_PROFILE.read_text().rstrip("\n") + "\n" + line + "\n"
    status, answer = post(f"{url}/v1/configure", {"profile": text})
    key = line.split("=")[0]
    assert status == 400 and answer["error"].startswith(f"profile:{len(text.splitlines())}: {key} must be"), answer
    assert get(f"{url}/v1/health")["simulations"] == SIMULATIONS


def test_a_cross_site_text_post_changes_nothing(service):
    url, _ = service
    status, answer = post(f"{url}/v1/configure", b'{"simulations": 20}',
                          {"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert status == 403 and answer["error"].startswith("origin: "), answer
    status, answer = post(f"{url}/v1/configure", b'{"simulations": 20}', {"Content-Type": "text/plain"})
    assert status == 415 and answer["error"].startswith("content-type: ")
    assert get(f"{url}/v1/health")["simulations"] == SIMULATIONS


def test_half_sent_requests_are_timed_out(service):
    url, _ = service
    port = int(url.rsplit(":", 1)[1])

    def answer_to(data: bytes) -> tuple[bytes, float, float]:
        """What the service sent, when its first byte came and when it closed the connection."""
        start, first = time.monotonic(), None
        with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT + 20) as connection:
            connection.sendall(data)
            received = b""
            while chunk := connection.recv(65536):   # until the service closes the connection
                first = first or time.monotonic() - start
                received += chunk
        return received, first, time.monotonic() - start

    headers_only, _, closed = answer_to(b"POST /v1/recommend HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert headers_only == b"" and closed < READ_TIMEOUT + 5
    half_body, answered, closed = answer_to(b"POST /v1/recommend HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"snap")
    assert half_body.startswith(b"HTTP/1.1 408") and b"body: not received within" in half_body
    assert READ_TIMEOUT - 0.5 < answered < READ_TIMEOUT + 5 and closed < READ_TIMEOUT + 5


JSON_KEYS = st.sampled_from(["snapshot", "snapshots", "tree_depth", "spec_id", "frame", "enemies", "health",
                             "buffs", "stacks", "cooldowns", "charges", "resources", "current", "keystone",
                             "level", "in_range", "health_pct", "debuffs", "remaining"]) | \
    st.from_regex(r"[a-z_]{1,10}", fullmatch=True)
# Numbers at the edges of the wire types and of JSON itself, and literals json.dumps cannot write
# (each stands in the body as "@<index>" and is spliced in as raw text).
EDGE_NUMBERS = st.sampled_from([float("inf"), float("-inf"), float("nan"), 2**31, 2**32, 2**53 + 1, 2**63, 3e9,
                                -1, 0.5, 1e-300, 255, 256, 65535, 65536, 1e308])
RAW_LITERALS = ["9" * 5000, "1e400", "-1e400", "[" * 3000 + "]" * 3000, "-0", "1E+2"]
JSON_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(JSON_KEYS, inner, max_size=4), max_leaves=12)
HOSTILE_VALUES = EDGE_NUMBERS | st.sampled_from([f"@{i}" for i in range(len(RAW_LITERALS))]) | JSON_VALUES


def _paths(value, prefix=()):
    """Every path to a value inside parsed JSON (for replacing one)."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


def _serialized(body) -> bytes:
    text = json.dumps(body)                     # NaN and Infinity as Python's json writes them
    for index, literal in enumerate(RAW_LITERALS):
        text = text.replace(f'"@{index}"', literal)
    return text.encode()


@st.composite
def hostile_bodies(draw, good: dict):
    """A valid recommend body with 1-3 values anywhere replaced by hostile ones, or random JSON."""
    if draw(st.integers(0, 4)) == 0:
        return _serialized(draw(JSON_VALUES))
    body = {"snapshot": good, "tree_depth": 1}
    for _ in range(draw(st.integers(1, 3))):
        paths = [path for path in _paths(body) if path]
        body = at(body, draw(st.sampled_from(paths)), draw(HOSTILE_VALUES))
    return _serialized(body)


def test_fuzzed_requests_are_answered_2xx_or_4xx_naming_a_field(service, snapshots):
    url, _ = service
    good = snapshot_to_json(snapshots[1])
    seen = set()

    @settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=hostile_bodies(good))
    def check(body):
        status, answer = post(f"{url}/v1/recommend", body)
        seen.add(status)
        assert 200 <= status < 300 or (400 <= status < 500 and FIELD_ERROR.match(answer["error"])), (body, answer)

    check()
    assert 400 in seen and post(f"{url}/v1/recommend", {"snapshot": good})[0] == 200


def test_configure_switches_policy(service, snapshots):
    url, _ = service
    status, body = post(f"{url}/v1/configure", {"policy": "apl"})
    assert status == 200 and body["policy"] == "apl"
    status, body = post(f"{url}/v1/recommend", {"snapshot": snapshot_to_json(snapshots[0])})
    assert status == 200 and body["policy"] == "apl" and body["recommendations"][0]["num_simulations"] == 0
    assert body["recommendations"][0]["best_action"] in sim.load_spec().action_names
    assert get(f"{url}/v1/health")["policy"] == "apl"


def test_switching_to_mcts_shows_in_health_while_the_old_policy_answers(service, snapshots):
    """The switch compiles the search (~40 s at 64 simulations on 2 cores; faster here from the
    suite's compilation cache): health says so, and requests are answered with apl meanwhile."""
    url, _ = service
    assert get(f"{url}/v1/health")["policy"] == "apl"
    answers = []
    switch = threading.Thread(target=lambda: answers.append(post(f"{url}/v1/configure", {"policy": "mcts"})))
    switch.start()
    deadline = time.monotonic() + 60
    while not (health := get(f"{url}/v1/health"))["configuring"] and switch.is_alive():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert health["policy"] == "apl" and health["configuring"]["policy"] == "mcts", health
    status, body = post(f"{url}/v1/recommend", {"snapshot": snapshot_to_json(snapshots[0])})
    assert status == 200 and body["policy"] == "apl"
    if switch.is_alive():     # the answer above came while mcts compiled
        assert get(f"{url}/v1/health")["configuring"]["policy"] == "mcts"
    switch.join(timeout=300)
    assert answers and answers[0][0] == 200 and answers[0][1]["policy"] == "mcts"
    health = get(f"{url}/v1/health")
    assert health["policy"] == "mcts" and health["configuring"] is None


class OneSnapshot:
    """A state source that always reads the same snapshot."""

    def __init__(self, snapshot):
        self.snapshot = snapshot

    def read(self):
        from overlay.sources import OK, Reading

        return Reading(OK, self.snapshot, 0.0, 0.0)


def test_overlay_uses_the_service_and_says_when_it_is_unreachable(service, snapshots):
    from overlay.remote import RemoteRecommender
    from overlay.worker import PlannerWorker, Settings
    from portunus.service.loadtest import free_port

    url, _ = service
    env = sim.live_env()
    worker = PlannerWorker(env, RemoteRecommender(url, timeout=60), OneSnapshot(snapshots[2]), Settings())
    result = worker.refresh()
    status, body = post(f"{url}/v1/recommend", {"snapshot": snapshot_to_json(snapshots[2])})
    assert result.error == "" and result.advice.best == body["recommendations"][0]["best_action"]
    assert "(service)" in result.advice.mode
    down = PlannerWorker(env, RemoteRecommender(f"http://127.0.0.1:{free_port()}", timeout=0.5),
                         OneSnapshot(snapshots[2]), Settings())
    result = down.refresh()
    assert result.advice is None and "planner unreachable at http://127.0.0.1:" in result.error


def test_a_burst_of_requests_is_one_batch_and_a_pause_ends_it():
    """The batcher closes a batch when requests stop coming (`gap`), not at a fixed window."""
    from portunus.service.batcher import Batcher

    class Recorder:
        max_batch = 64

        def __init__(self):
            self.batches = []

        def plan(self, states, depth):
            self.batches.append(list(states))
            return [{"tree": {}, "batch_size": len(states)} for _ in states]

    async def scenario():
        batcher = Batcher(recorder, max_wait=2.0, gap=0.15)
        batcher.start()

        async def client(index, delay):
            await asyncio.sleep(delay)
            return await batcher.submit([index], depth=0)

        # Ten requests 20 ms apart (a burst of 180 ms, longer than the gap), then one after a pause.
        answers = await asyncio.gather(*(client(i, 0.02 * i) for i in range(10)), client(10, 1.0))
        await batcher.stop()
        return answers, batcher

    recorder = Recorder()
    answers, batcher = asyncio.run(scenario())
    assert recorder.batches == [list(range(10)), [10]]
    assert [len(a) for a in answers] == [1] * 11 and batcher.metrics.batch_states == {10: 1, 1: 1}
