"""`portunus serve`: the planner as a local HTTP + JSON service (aiohttp).

POST /v1/recommend   {"snapshots": [GameSnapshot JSON, ...], "tree_depth": 2}   (or "snapshot": {...})
POST /v1/configure   {"policy": "apl"|"mcts", "simulations": 64, "profile": "<SimC text>"}
GET  /v1/health      GET /v1/metrics
Errors are 4xx with {"error": "<field>: <what is wrong>"}; the service keeps serving.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import time

from aiohttp import web

from portunus.errors import InputError
from portunus.protocol import SnapshotJSONError, snapshot_from_json
from portunus.service.batcher import Batcher
from portunus.service.engine import MAX_TREE_DEPTH, EngineConfig, PlanningEngine

MAX_BODY = 256 * 1024          # bytes; larger requests are refused before parsing
RECOMMEND_KEYS = {"snapshots", "snapshot", "tree_depth"}
CONFIGURE_KEYS = {"policy", "simulations", "profile"}

@dataclasses.dataclass
class Service:
    """What the handlers share; `engine` is swapped by /v1/configure (the app itself is frozen)."""

    engine: PlanningEngine
    batcher: Batcher


SERVICE = web.AppKey("service", Service)


class ClientError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request, allowed: set[str]) -> dict:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ClientError(413, f"body: larger than {MAX_BODY} bytes") from None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ClientError(400, f"body: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ClientError(400, "body: must be a JSON object")
    for key in data:
        if key not in allowed:
            raise ClientError(400, f"{key}: unknown field; allowed: {', '.join(sorted(allowed))}")
    return data


@web.middleware
async def _errors(request: web.Request, handler):
    batcher = request.app[SERVICE].batcher
    try:
        return await handler(request)
    except ClientError as error:
        batcher.metrics.client_errors += 1
        return _error(error.status, str(error))


async def recommend(request: web.Request) -> web.Response:
    start = time.monotonic()
    engine, batcher = request.app[SERVICE].engine, request.app[SERVICE].batcher
    data = await _body(request, RECOMMEND_KEYS)
    if ("snapshots" in data) == ("snapshot" in data):
        raise ClientError(400, "snapshots: give either 'snapshots' (a list) or 'snapshot'")
    items = data["snapshots"] if "snapshots" in data else [data["snapshot"]]
    where = "snapshots" if "snapshots" in data else "snapshot"
    if not isinstance(items, list) or not items:
        raise ClientError(400, "snapshots: must be a non-empty list")
    if len(items) > engine.max_batch:
        raise ClientError(413, f"snapshots: at most {engine.max_batch} per request, got {len(items)}")
    depth = data.get("tree_depth", 2)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= MAX_TREE_DEPTH:
        raise ClientError(400, f"tree_depth: must be a whole number 0..{MAX_TREE_DEPTH}, got {depth!r}")
    states = []
    for i, item in enumerate(items):
        path = f"snapshots[{i}]" if where == "snapshots" else "snapshot"
        try:
            states.append(engine.state(snapshot_from_json(item, path)))
        except SnapshotJSONError as error:
            raise ClientError(400, str(error)) from None
        except InputError as error:              # the wrong spec, table lengths
            raise ClientError(422, f"{path}: {error}") from None
    results = await batcher.submit(states, depth)
    batcher.metrics.requests += 1
    batcher.metrics.latencies.append(time.monotonic() - start)
    return web.json_response({"recommendations": results, "policy": engine.config.policy,
                              "simulations": engine.config.simulations})


async def configure(request: web.Request) -> web.Response:
    data = await _body(request, CONFIGURE_KEYS)
    old = request.app[SERVICE].engine.config
    changes = {}
    if "policy" in data:
        changes["policy"] = data["policy"]
    if "simulations" in data:
        if isinstance(data["simulations"], bool) or not isinstance(data["simulations"], int):
            raise ClientError(400, f"simulations: must be a whole number, got {data['simulations']!r}")
        changes["simulations"] = data["simulations"]
    if "profile" in data:
        if not isinstance(data["profile"], str):
            raise ClientError(400, "profile: must be SimC profile text")
        changes["profile_text"] = data["profile"]
    config = dataclasses.replace(old, **changes)
    try:
        config.validate()
        loop = asyncio.get_running_loop()
        engine = await loop.run_in_executor(None, _ready_engine, config)   # compile off the event loop
    except (ValueError, InputError) as error:
        raise ClientError(400, str(error)) from None
    request.app[SERVICE].engine = engine       # the old one's search threads end when it is collected
    request.app[SERVICE].batcher.engine = engine
    return web.json_response({"status": "configured", **_describe(engine)})


def _ready_engine(config: EngineConfig) -> PlanningEngine:
    engine = PlanningEngine(config)
    engine.warm_up()
    freeze_heap()
    return engine


def freeze_heap() -> None:
    """Exempt what exists now (JAX, the compiled searches: ~580k objects) from garbage collection.
    Otherwise a full collection walks all of it while requests wait: one batch of the 64-client
    load test took ~430 ms instead of ~120 (p99 420-560 ms without this, 185-224 ms with it)."""
    gc.collect()
    gc.freeze()


def _describe(engine: PlanningEngine) -> dict:
    c = engine.config
    return {"spec": engine.env.spec.name, "profile": engine.profile_name, "policy": c.policy,
            "simulations": c.simulations, "batch_sizes": list(engine.batch_sizes),
            "search_threads": engine.threads,
            "model": str(engine.model.path) if engine.model else None}


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", **_describe(request.app[SERVICE].engine)})


async def metrics(request: web.Request) -> web.Response:
    batcher = request.app[SERVICE].batcher
    return web.json_response(batcher.metrics.to_dict(batcher.queue_depth))


def make_app(engine: PlanningEngine, max_wait: float = 0.03, gap: float = 0.003) -> web.Application:
    """The aiohttp application around a warmed-up engine (batching: see Batcher)."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_errors])
    app[SERVICE] = Service(engine, Batcher(engine, max_wait, gap))
    app.router.add_post("/v1/recommend", recommend)
    app.router.add_post("/v1/configure", configure)
    app.router.add_get("/v1/health", health)
    app.router.add_get("/v1/metrics", metrics)

    async def start_batcher(app_):
        app_[SERVICE].batcher.start()

    async def stop_batcher(app_):
        await app_[SERVICE].batcher.stop()

    app.on_startup.append(start_batcher)
    app.on_cleanup.append(stop_batcher)
    return app
