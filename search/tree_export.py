"""mctx search trees -> plain Python structures for display (overlay, CLI, JSON)."""

from __future__ import annotations

from typing import Any

import mctx
import numpy as np


def export_tree(tree: mctx.Tree, index: int, action_names: tuple[str, ...], depth: int) -> dict[str, Any]:
    """State `index`'s tree to `depth` levels below the root, from numpy arrays.

    Each node: action (index, None at the root), name, visits, value (the node's mean
    value), q (reward + discount x value, as its parent sees it), prior (probability
    under the parent), children (visited ones only, most visited first).
    """

    def node(node_index: int, level: int, action: int | None, q: float | None, prior: float | None):
        result = {"action": action, "name": None if action is None else action_names[action],
                  "visits": int(tree.node_visits[index, node_index]),
                  "value": float(tree.node_values[index, node_index]),
                  "q": q, "prior": prior, "children": []}
        if level >= depth:
            return result
        logits = tree.children_prior_logits[index, node_index]
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        children = tree.children_index[index, node_index]
        visited = [a for a in range(children.shape[0]) if children[a] != mctx.Tree.UNVISITED]
        visited.sort(key=lambda a: (-tree.children_visits[index, node_index, a], a))
        for a in visited:
            child_q = float(tree.children_rewards[index, node_index, a]
                            + tree.children_discounts[index, node_index, a]
                            * tree.children_values[index, node_index, a])
            result["children"].append(node(int(children[a]), level + 1, a, child_q, float(probabilities[a])))
        return result

    return node(mctx.Tree.ROOT_INDEX, 0, None, None, None)


def format_tree(tree: dict[str, Any], indent: str = "") -> str:
    """A text rendering, root first, best branch on top."""
    lines = []
    for child in tree["children"]:
        lines.append(f"{indent}{child['name']:<20} visits {child['visits']:>5}  q {child['q']:+.4f}  "
                     f"prior {child['prior']:.2f}")
        lines.append(format_tree(child, indent + "    "))
    return "\n".join(line for line in lines if line)
