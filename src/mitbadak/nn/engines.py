"""Which NumPy fast path computes a network's inference scores: the one choice, shared by
evaluation (``training.steps.choose_scores``) and the networks' own ``accuracy`` where a
learner's call would otherwise run the slow layer-by-layer forward (the convnets).

Each fast path is tested equal to the layers (``tests/test_fast_paths.py``,
``tests/test_fast_extend.py``, ``tests/test_fast_conv.py``); a network none of them covers is
left to its layers (``None`` here).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mitbadak.nn import fast_conv, fast_extend, fast_path

__all__ = ["host_scores"]


def host_scores(net) -> Callable[[np.ndarray], np.ndarray] | None:
    """``scores(x2)`` (test mode) of the first NumPy fast path that covers ``net``: the MLP
    path for a FeedForwardNet, the BatchNorm/Dropout path for those layer lists, the convnet
    path for Convolution/Pooling stacks; ``None`` where none does. A plan is read once here;
    the parameters are read from ``net.params`` on every call (never cached)."""
    if fast_path.unsupported(net) is None:
        return lambda x2: fast_path.scores(net, x2)
    if fast_extend.unsupported(net) is None:
        plan = fast_extend.plan(net)
        return lambda x2: fast_extend.scores(net, x2, plan)
    if fast_conv.unsupported(net) is None:
        conv_plan = fast_conv.plan(net)
        return lambda x2: fast_conv.scores(net, x2, conv_plan)
    return None
