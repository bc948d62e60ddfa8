"""`portunus serve`: the planner as a local HTTP + JSON service (aiohttp).

POST /v1/recommend   {"snapshots": [GameSnapshot JSON, ...], "tree_depth": 2, "session": "id"}
                     (or "snapshot": {...}; "session", optional: one client's successive snapshots,
                     whose hidden values then come from copies of its fight that follow its casts)
POST /v1/configure   {"policy": "apl"|"mcts", "simulations": 64, "profile": "<SimC text>"}
GET  /v1/health      GET /v1/metrics
Errors are 4xx with {"error": "<field>: <what is wrong>"}; the service keeps serving.
Every body goes through portunus/service/validation.py before a handler reads it.

Who may ask: requests must name this machine in `Host` (when bound to loopback: a web
page's DNS-rebound name is refused), carry no `Origin` (a browser sends one; this
service serves no pages, so any web page is refused), and POST `application/json` (a
cross-site form or `text/plain` POST is refused before it is read). Bound beyond
loopback, /v1/configure needs `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import hmac
import ipaddress
import time
from typing import Callable

from aiohttp import web

from portunus.errors import InputError
from portunus.protocol import SnapshotJSONError, snapshot_from_json
from portunus.service.batcher import Batcher
from portunus.service.engine import MAX_TREE_DEPTH, EngineConfig, PlanningEngine
from portunus.service.validation import (MAX_BODY, ClientError, check_snapshot_ranges, parse_body,
                                         whole_number)

RECOMMEND_KEYS = {"snapshots", "snapshot", "tree_depth", "session"}
SESSION_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
MAX_SESSION = 64
CONFIGURE_KEYS = {"policy", "simulations", "profile"}
READ_TIMEOUT = 10.0      # seconds: a request's headers and body must arrive within this (idle keep-alive too)
MAX_PROFILE = 64 * 1024  # characters of SimC profile text


@dataclasses.dataclass
class Access:
    """Who may ask. `loopback_only`: the Host header must name this machine (set when the service
    binds to a loopback address); `token`: what /v1/configure needs in `Authorization: Bearer`."""

    loopback_only: bool = True
    token: str | None = None


@dataclasses.dataclass
class Service:
    """What the handlers share; `engine` is swapped by /v1/configure (the app itself is frozen).
    Configure calls run one at a time (`configure_lock`), each on top of the settings the one
    before it left, so none is lost; `configuring` says what is compiling meanwhile."""

    engine: PlanningEngine
    batcher: Batcher
    build_engine: Callable[[EngineConfig], PlanningEngine]
    access: Access
    read_timeout: float
    configure_lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    configuring: dict | None = None
    configure_waiting: int = 0


SERVICE = web.AppKey("service", Service)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request, allowed: set[str]) -> dict:
    timeout = request.app[SERVICE].read_timeout
    try:
        async with asyncio.timeout(timeout):
            raw = await request.read()
    except TimeoutError:
        raise ClientError(408, f"body: not received within {timeout:g} s") from None
    except web.HTTPRequestEntityTooLarge:
        raise ClientError(413, f"body: larger than {MAX_BODY} bytes") from None
    data = parse_body(raw)
    for key in data:
        if key not in allowed:
            raise ClientError(400, f"{key}: unknown field; allowed: {', '.join(sorted(allowed))}")
    return data


def _hostname(host: str) -> str:
    """'127.0.0.1:8765' -> '127.0.0.1', '[::1]:8765' -> '::1'."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    name = _hostname(host).lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@web.middleware
async def _guard(request: web.Request, handler):
    access = request.app[SERVICE].access
    host = request.headers.get("Host", "")
    if access.loopback_only and not is_loopback(host):
        raise ClientError(403, f"host: '{host}' is not this machine; the service answers 127.0.0.1 / localhost")
    if "Origin" in request.headers or request.headers.get("Sec-Fetch-Site", "none") not in ("none", "same-origin"):
        raise ClientError(403, f"origin: requests from web pages ({request.headers.get('Origin', 'a browser')}) "
                               "are refused")
    if request.method == "POST" and request.content_type != "application/json":
        raise ClientError(415, f"content-type: must be application/json, got {request.content_type}")
    if access.token is not None and request.path == "/v1/configure":
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {access.token}".encode()):
            raise ClientError(401, "authorization: /v1/configure needs 'Authorization: Bearer <token>' "
                                   "(the token portunus serve printed)")
    return await handler(request)


@web.middleware
async def _errors(request: web.Request, handler):
    batcher = request.app[SERVICE].batcher
    try:
        return await handler(request)
    except ClientError as error:
        batcher.metrics.client_errors += 1
        response = _error(error.status, str(error))
        if error.status == 408:
            response.force_close()           # the rest of the body may still come: drop the connection
        return response


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
    depth = whole_number(data, "tree_depth", 0, MAX_TREE_DEPTH, default=2)
    session = data.get("session")
    if session is not None and (not isinstance(session, str) or not 1 <= len(session) <= MAX_SESSION
                                or not set(session) <= SESSION_CHARACTERS):
        raise ClientError(400, f"session: must be 1..{MAX_SESSION} characters of letters, digits, '-', '_' or '.'")
    states = []
    for i, item in enumerate(items):
        path = f"snapshots[{i}]" if where == "snapshots" else "snapshot"
        check_snapshot_ranges(item, path)
        try:
            snapshot = snapshot_from_json(item, path)
            if engine.follows(snapshot, session):     # copies of the client's fight step: off the event loop
                state = await asyncio.get_running_loop().run_in_executor(None, engine.state, snapshot, session)
            else:
                state = engine.state(snapshot)
            states.append(state)
        except SnapshotJSONError as error:
            raise ClientError(400, str(error)) from None
        except InputError as error:              # the wrong spec, table lengths
            raise ClientError(422, f"{path}: {error}") from None
    results = await batcher.submit(states, depth)
    batcher.metrics.requests += 1
    batcher.metrics.latencies.append(time.monotonic() - start)
    return web.json_response({"recommendations": results, "policy": engine.config.policy,
                              "simulations": engine.config.simulations})


def _changes(data: dict) -> dict:
    """The settings a configure body asks for, by type (their ranges are EngineConfig.validate's)."""
    changes = {}
    if "policy" in data:
        if not isinstance(data["policy"], str):
            raise ClientError(400, f"policy: must be apl, net or mcts, got {data['policy']!r}")
        changes["policy"] = data["policy"]
    if "simulations" in data:
        changes["simulations"] = whole_number(data, "simulations", 1, 4096)
    if "profile" in data:
        if not isinstance(data["profile"], str):
            raise ClientError(400, "profile: must be SimC profile text")
        if len(data["profile"]) > MAX_PROFILE:
            raise ClientError(400, f"profile: at most {MAX_PROFILE} characters, got {len(data['profile'])}")
        changes["profile_text"] = data["profile"]
    return changes


async def configure(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    changes = _changes(await _body(request, CONFIGURE_KEYS))
    service.configure_waiting += 1
    try:
        await service.configure_lock.acquire()
    finally:
        service.configure_waiting -= 1
    try:
        config = dataclasses.replace(service.engine.config, **changes)   # on top of the latest settings
        try:
            config.validate()
        except ValueError as error:
            raise ClientError(400, str(error)) from None
        service.configuring = {"policy": config.policy, "simulations": config.simulations,
                               "profile_changed": "profile_text" in changes, "started": time.monotonic()}
        try:
            loop = asyncio.get_running_loop()
            engine = await loop.run_in_executor(None, service.build_engine, config)  # compile off the event loop
        except (ValueError, InputError) as error:
            raise ClientError(400, str(error)) from None
        finally:
            service.configuring = None
        service.engine = engine       # the old one's search threads end when it is collected
        service.batcher.engine = engine
    finally:
        service.configure_lock.release()
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
            "simulations": c.simulations,
            "rollout_steps": engine.rollout_steps,
            "batch_sizes": list(engine.batch_sizes),
            "search_threads": engine.threads, "belief_samples": c.belief_samples,
            "belief_particles": c.belief_particles, "sessions": engine.sessions,
            "model": engine.model.identity() if engine.model else None}


async def health(request: web.Request) -> web.Response:
    """The settings requests are answered with now; while /v1/configure compiles new ones (a switch
    to mcts takes ~40 s on 2 CPU cores), `configuring` says which, since when, and how many more wait."""
    service = request.app[SERVICE]
    configuring = None
    if service.configuring is not None:
        pending = dict(service.configuring)
        configuring = {**{k: v for k, v in pending.items() if k != "started"},
                       "seconds": round(time.monotonic() - pending["started"], 1),
                       "waiting": service.configure_waiting}
    return web.json_response({"status": "ok", **_describe(service.engine), "configuring": configuring})


async def metrics(request: web.Request) -> web.Response:
    batcher = request.app[SERVICE].batcher
    return web.json_response(batcher.metrics.to_dict(batcher.queue_depth))


def make_app(engine: PlanningEngine, max_wait: float = 0.03, gap: float = 0.003, *, access: Access | None = None,
             read_timeout: float = READ_TIMEOUT,
             build_engine: Callable[[EngineConfig], PlanningEngine] | None = None) -> web.Application:
    """The aiohttp application around a warmed-up engine (batching: see Batcher). `access`: who may
    ask (default: loopback clients, no token); `build_engine`: how /v1/configure makes an engine
    (default: compile and warm up a PlanningEngine)."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_errors, _guard])
    app[SERVICE] = Service(engine, Batcher(engine, max_wait, gap), build_engine or _ready_engine,
                           access or Access(), read_timeout)
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
