"""The planning service's HTTP layer in-process, around a fake engine (no search compiled):
who may ask, configure calls that overlap, what /v1/health shows while one compiles."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from aiohttp.test_utils import TestClient, TestServer

from portunus.service import Access, EngineConfig, make_app


class FakeEngine:
    """The engine interface the server uses; `plan` answers with the engine's own settings."""

    max_batch = 8
    batch_sizes = (1, 8)
    threads = 1
    model = None
    profile_name = "Tester"
    sessions = 0
    rollout_steps = None

    def __init__(self, config: EngineConfig):
        self.config = config
        self.env = type("Env", (), {"spec": type("Spec", (), {"name": "retribution_paladin"})()})()

    def state(self, snapshot, session=None):
        return snapshot

    def follows(self, snapshot, session):
        return False

    def plan(self, states, depth, seed=0):
        return [{"best_action": f"{self.config.policy}/{self.config.simulations}", "tree": {}, "batch_size": 1}
                for _ in states]


def run(scenario, build_engine=None, access=None):
    """Run `scenario(client)` against the app on a loopback test server."""

    async def main():
        app = make_app(FakeEngine(EngineConfig(policy="mcts", simulations=64)), access=access,
                       build_engine=build_engine or FakeEngine)
        async with TestClient(TestServer(app)) as client:
            return await scenario(client)

    return asyncio.run(main())


async def post(client, path, body, **headers):
    response = await client.post(path, json=body, headers=headers)
    return response.status, await response.json()


def slow_build(seconds):
    def build(config):
        threading.Event().wait(seconds)
        return FakeEngine(config)
    return build


def test_concurrent_configures_both_apply():
    """Two changes sent at once end as both: each runs on top of the settings the other left."""

    async def scenario(client):
        first = asyncio.create_task(post(client, "/v1/configure", {"policy": "apl"}))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(post(client, "/v1/configure", {"simulations": 20}))
        answers = await asyncio.gather(first, second)
        health = await (await client.get("/v1/health")).json()
        return answers, health

    answers, health = run(scenario, build_engine=slow_build(0.4))
    assert [status for status, _ in answers] == [200, 200]
    assert (health["policy"], health["simulations"]) == ("apl", 20)
    assert answers[1][1]["policy"] == "apl" and answers[1][1]["simulations"] == 20


def test_health_shows_a_configure_in_progress_while_old_settings_answer():
    release = threading.Event()

    def build(config):
        assert release.wait(30)
        return FakeEngine(config)

    async def scenario(client):
        change = asyncio.create_task(post(client, "/v1/configure", {"policy": "apl", "simulations": 9}))
        for _ in range(200):
            health = await (await client.get("/v1/health")).json()
            if health["configuring"]:
                break
            await asyncio.sleep(0.01)
        status, answer = await post(client, "/v1/recommend", {"snapshot": {"spec_id": 70, "frame": 1}})
        release.set()
        done = await change
        after = await (await client.get("/v1/health")).json()
        return health, (status, answer), done, after

    during, answer, done, after = run(scenario, build_engine=build)
    assert during["configuring"]["policy"] == "apl" and during["configuring"]["simulations"] == 9
    assert during["configuring"]["seconds"] >= 0 and during["policy"] == "mcts"
    assert answer[0] == 200 and answer[1]["recommendations"][0]["best_action"] == "mcts/64"
    assert done[0] == 200 and (after["policy"], after["simulations"], after["configuring"]) == ("apl", 9, None)


@pytest.mark.parametrize("headers, body, status, message", [
    ({"Origin": "http://evil.example"}, b'{"policy": "apl"}', 403, "origin: requests from web pages"),
    ({"Content-Type": "text/plain"}, b'{"policy": "apl"}', 415, "content-type: must be application/json"),
    ({"Content-Type": "text/plain", "Origin": "http://evil.example"}, b'{"policy": "apl"}', 403, "origin:"),
    ({"Sec-Fetch-Site": "cross-site"}, b'{"policy": "apl"}', 403, "origin:"),
    ({"Host": "evil.example:8765"}, b'{"policy": "apl"}', 403, "host: 'evil.example:8765' is not this machine"),
])
def test_browser_and_rebound_requests_are_refused_before_anything_changes(headers, body, status, message):
    async def scenario(client):
        response = await client.post("/v1/configure", data=body,
                                     headers={"Content-Type": "application/json", **headers})
        health = await (await client.get("/v1/health")).json()
        return response.status, await response.json(), health

    got, answer, health = run(scenario)
    assert got == status and answer["error"].startswith(message), answer
    assert health["policy"] == "mcts"


def test_beyond_loopback_configure_needs_the_token():
    async def scenario(client):
        anonymous = await post(client, "/v1/configure", {"policy": "apl"})
        wrong = await post(client, "/v1/configure", {"policy": "apl"}, Authorization="Bearer nope")
        recommend = await post(client, "/v1/recommend", {"snapshot": {"spec_id": 70, "frame": 1}},
                               Host="192.0.2.7:8765")
        right = await post(client, "/v1/configure", {"policy": "apl"}, Authorization="Bearer s3cret-token")
        return anonymous, wrong, recommend, right

    anonymous, wrong, recommend, right = run(scenario, access=Access(loopback_only=False, token="s3cret-token"))
    for status, answer in (anonymous, wrong):
        assert status == 401 and answer["error"].startswith("authorization: /v1/configure needs"), answer
    assert recommend[0] == 200 and right == (200, {**right[1], "policy": "apl"})


class WarmedFake(FakeEngine):
    def warm_up(self):
        return 0.0


def test_serve_refuses_a_short_token_and_makes_one_up_beyond_loopback(monkeypatch):
    from typer.testing import CliRunner

    import portunus.service as service
    import portunus.service.server as server
    from portunus.cli import app

    started = {}
    monkeypatch.setattr(service, "PlanningEngine", WarmedFake)
    monkeypatch.setattr(server, "freeze_heap", lambda: None)
    monkeypatch.setattr(service, "make_app", lambda engine, *args, **kwargs: started.update(kwargs))
    monkeypatch.setattr("aiohttp.web.run_app", lambda app, **kwargs: started.update(run=kwargs))
    result = CliRunner().invoke(app, ["serve", "--token", "short"])
    assert result.exit_code == 2 and "--token must be at least 8 printable characters" in result.output
    assert not started
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--read-timeout", "4"])
    assert result.exit_code == 0, result.output
    token = started["access"].token
    assert not started["access"].loopback_only and len(token) >= 16
    assert f"Authorization: Bearer {token}" in " ".join(result.output.split())
    assert started["read_timeout"] == 4 and started["run"]["keepalive_timeout"] == 4
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 0 and started["access"].loopback_only and started["access"].token is None


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


JSON_TREES = st.recursive(st.none() | st.integers() | st.text(alphabet='"\\[]{}a', max_size=6),
                          lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(alphabet='"\\[]{}k', max_size=4), inner, max_size=3),
                          max_leaves=20)


@settings(max_examples=300, deadline=None, database=None)
@given(JSON_TREES)
def test_nesting_is_measured_on_raw_bytes_ignoring_brackets_in_strings(tree):
    from portunus.service.validation import nesting_depth

    assert nesting_depth(json.dumps(tree).encode()) == _depth(tree)
