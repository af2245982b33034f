"""The token head's starting bias: the weighted loss of a head that sees nothing is lowest there."""

from __future__ import annotations

import numpy as np
import pytest

from huashu.train.train import pos_weights, prior_bias


def _weighted_bce(bias: float, pos: int, n: int, w: float) -> float:
    p = 1.0 / (1.0 + np.exp(-bias))
    return float(-(w * pos * np.log(p) + (n - pos) * np.log(1.0 - p)) / n)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_prior_bias_minimises_the_weighted_loss_of_a_blind_head(alpha):
    counts = np.array([3, 40, 700, 0])  # a rare column, a common one, one with no positive at all
    n = 20_000
    pw = pos_weights(counts, n, alpha, 30.0)
    bias = prior_bias(counts, n, pw)
    grid = np.linspace(-12, 4, 3201)
    for k, c in enumerate(np.maximum(counts, 1)):
        losses = [_weighted_bce(b, int(c), n, float(pw[k])) for b in grid]
        assert bias[k] == pytest.approx(grid[int(np.argmin(losses))], abs=0.01)
    assert bias[0] < bias[1] < bias[2]  # rarer columns start lower
    # and no column starts above 0.5, where a zero bias would put all of them (only full class
    # weighting, alpha 1, balances a column that the cap does not clip)
    assert (bias < 0).all() if alpha < 1 else (bias < 1e-6).all()
