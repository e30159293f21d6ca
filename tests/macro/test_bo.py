"""Constrained BO with weighted EI: improves on its initial points, handles failures."""

import numpy as np
import pytest
import torch

from macro.bo import BOConfig, BOError, ConstrainedBO, constrained_bo, toy_problem

torch.set_num_threads(1)


def test_bo_improves_on_its_initial_points():
    cfg = BOConfig(n_init=4, n_iter=8, seed=3, num_restarts=2, raw_samples=64)
    res = constrained_bo(toy_problem, [[0, 0], [1, 1]], 1, cfg)
    assert len(res.y) == 12 and res.source[:4] == ["init"] * 4
    init_feasible = res.feasible[:4]
    init_best = res.y[:4][init_feasible].max() if init_feasible.any() else -np.inf
    best = res.y[res.best_index]
    assert best > init_best
    assert best > -0.06                      # the constrained optimum is -0.045
    assert res.c[res.best_index, 0] >= 0     # and it is feasible
    trace = res.best_so_far()
    assert np.all(np.diff(trace[np.isfinite(trace)]) >= 0)


def test_failures_are_data_not_crashes():
    def func(x):
        y, c = toy_problem(x)
        y = np.where(x[:, 0] > 0.9, np.nan, y)     # a "failed simulation" region
        return y, c

    res = constrained_bo(func, [[0, 0], [1, 1]], 1,
                         BOConfig(n_init=5, n_iter=3, seed=0, num_restarts=2, raw_samples=32))
    assert len(res.y) == 8 and res.best_index is not None


def test_same_observations_same_proposal():
    a = ConstrainedBO([[0, 0], [1, 1]], 1, BOConfig(n_init=5, seed=4, warm_start=False))
    b = ConstrainedBO([[0, 0], [1, 1]], 1, BOConfig(n_init=5, seed=4, warm_start=False))
    for bo in (a, b):
        x = bo.initial_points()
        bo.tell(x, *toy_problem(x), "init")
    assert np.allclose(a.ask()[0], b.ask()[0])


def test_bad_inputs():
    with pytest.raises(BOError):
        ConstrainedBO([[0, 1], [1, 1]], 1)
    with pytest.raises(BOError):
        ConstrainedBO([0, 1], 1)
    with pytest.raises(BOError):
        BOConfig(n_init=0)
