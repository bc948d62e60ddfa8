"""Search: batched mctx (Gumbel MuZero / AlphaZero PUCT) over the true simulator.

    planner = search.Planner(env, search.SearchConfig(num_simulations=64))
    recommendation = planner.recommend(states)      # a batch of sim States
    one = planner.recommend_belief(sim.sample_beliefs(env, snapshot))   # one game state, partly hidden
"""

from search.planner import Planner, make_search, merge_belief, state_from_sim
from search.tree_export import export_tree, format_tree
from search.types import Recommendation, SearchConfig

__all__ = ["Planner", "Recommendation", "SearchConfig", "export_tree", "format_tree", "make_search",
           "merge_belief", "state_from_sim"]
