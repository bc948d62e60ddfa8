"""The planning service: one long-lived planner answering many clients with batched search.

    engine = PlanningEngine(EngineConfig(policy="mcts", simulations=64)); engine.warm_up()
    web.run_app(make_app(engine), host="127.0.0.1", port=8765)
"""

from portunus.service.engine import EngineConfig, PlanningEngine
from portunus.service.server import MAX_BODY, Access, make_app

__all__ = ["EngineConfig", "PlanningEngine", "make_app", "Access", "MAX_BODY"]
