"""`portunus serve`: a real service process on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest

import sim
from portunus.protocol import snapshot_to_json
from portunus.service import EngineConfig, PlanningEngine
from portunus.service.loadtest import _load, running_service

SIMULATIONS = 8
pytestmark = pytest.mark.xdist_group("service")   # one service process for the whole module


def post(url: str, body) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
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
    with running_service(["--policy", "mcts", "--checkpoint", "none", "--simulations", str(SIMULATIONS), "--batch-sizes", "1,8",
                          "--max-wait-ms", "20"]) as (url, process):
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
                                         search_threads=2))
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
    assert got == 400 and "simulations: must be 1..4096" in answer["error"]
    assert get(f"{url}/v1/metrics")["client_errors"] >= len(cases) + 2
    assert get(f"{url}/v1/health")["simulations"] == SIMULATIONS


def test_configure_switches_policy(service, snapshots):
    url, _ = service
    status, body = post(f"{url}/v1/configure", {"policy": "apl"})
    assert status == 200 and body["policy"] == "apl"
    status, body = post(f"{url}/v1/recommend", {"snapshot": snapshot_to_json(snapshots[0])})
    assert status == 200 and body["policy"] == "apl" and body["recommendations"][0]["num_simulations"] == 0
    assert body["recommendations"][0]["best_action"] in sim.load_spec().action_names
    assert get(f"{url}/v1/health")["policy"] == "apl"


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
