"""train: networks now; self-play, learner, checkpoints and evaluation come with the training issue."""

from train.network import PolicyValueNet, init_network

__all__ = ["PolicyValueNet", "init_network"]
