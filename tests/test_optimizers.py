"""Optimizers, schedules, weight decay and mini-batches against update rules written out here."""
from __future__ import annotations

import math

import numpy as np
import pytest

from catdog.network import initialize_parameters
from catdog.optimizers import learning_rate_at
from catdog.params import TrainParams
from catdog.training import train


def data(m=90, n_x=30, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randint(0, 256, size=(n_x, m)) / 255.0
    Y = (X[: n_x // 2].mean(axis=0, keepdims=True) > 0.5).astype(np.float64)
    return X, Y


def ref_grads(X, Y, p):
    """The six equations, float64."""
    m = X.shape[1]
    A1 = np.tanh(np.dot(p["W1"], X) + p["b1"])
    A2 = 1.0 / (1.0 + np.exp(-(np.dot(p["W2"], A1) + p["b2"])))
    dZ2 = A2 - Y
    dZ1 = np.dot(p["W2"].T, dZ2) * (1 - A1 ** 2)
    return {"W1": np.dot(dZ1, X.T) / m, "b1": dZ1.sum(axis=1, keepdims=True) / m,
            "W2": np.dot(dZ2, A1.T) / m, "b2": dZ2.sum(axis=1, keepdims=True) / m}


def ref_lr(base, epoch, epochs, schedule):
    if schedule == "constant":
        return base
    if schedule == "step":  # halve every 2 epochs
        return base * 0.5 ** (epoch // 2)
    return base * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


def reference(X, Y, optimizer, schedule, epochs, lr, weight_decay=0.0, batch=None, seed=3):
    p = initialize_parameters(X.shape[0], 4, 1, seed)
    v = {k: np.zeros_like(w) for k, w in p.items()}
    s = {k: np.zeros_like(w) for k, w in p.items()}
    t = 0
    shuffle = np.random.default_rng([seed, 1])
    m = X.shape[1]
    for epoch in range(epochs):
        rate = ref_lr(lr, epoch, epochs, schedule)
        order = shuffle.permutation(m) if batch else np.arange(m)
        for start in range(0, m, batch or m):
            idx = order[start:start + (batch or m)]
            g = ref_grads(X[:, idx], Y[:, idx], p)
            for k in ("W1", "W2"):
                g[k] = g[k] + weight_decay * p[k]
            t += 1
            for k in p:
                if optimizer == "gd":
                    step = g[k]
                elif optimizer == "momentum":
                    v[k] = 0.9 * v[k] + 0.1 * g[k]
                    step = v[k]
                else:
                    v[k] = 0.9 * v[k] + 0.1 * g[k]
                    s[k] = 0.999 * s[k] + 0.001 * g[k] ** 2
                    step = (v[k] / (1 - 0.9 ** t)) / (np.sqrt(s[k] / (1 - 0.999 ** t)) + 1e-8)
                p[k] = p[k] - rate * step
    return p


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
@pytest.mark.parametrize("schedule", ["constant", "step", "cosine"])
def test_whole_set_steps_follow_the_textbook_rules(optimizer, schedule):
    X, Y = data()
    got = train(X, Y, TrainParams(hidden_size=4, learning_rate=0.05, iterations=6, seed=3,
                                  dtype="float64", optimizer=optimizer, lr_schedule=schedule,
                                  lr_step_every=2, lr_step_factor=0.5, solver="blocked",
                                  cost_every=1), progress=False).parameters
    ref = reference(X, Y, optimizer, schedule, 6, 0.05)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-10, atol=1e-15, err_msg=k)


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_mini_batches_with_weight_decay_follow_the_rules(optimizer):
    X, Y = data(m=100)
    got = train(X, Y, TrainParams(hidden_size=4, learning_rate=0.05, iterations=3, seed=3,
                                  dtype="float64", optimizer=optimizer, batch_size=32,
                                  weight_decay=0.1, cost_every=1), progress=False).parameters
    ref = reference(X, Y, optimizer, "constant", 3, 0.05, weight_decay=0.1, batch=32)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-10, atol=1e-15, err_msg=k)
    plain = reference(X, Y, optimizer, "constant", 3, 0.05, weight_decay=0.0, batch=32)
    assert not np.allclose(plain["W1"], ref["W1"], rtol=1e-6)  # the decay mattered


def test_schedules_by_their_formulas():
    assert learning_rate_at(7, 10, 0.2) == 0.2
    assert learning_rate_at(0, 10, 0.2, "step", 3, 0.5) == 0.2
    assert learning_rate_at(6, 10, 0.2, "step", 3, 0.5) == pytest.approx(0.05)
    assert learning_rate_at(0, 10, 0.2, "cosine") == pytest.approx(0.2)
    assert learning_rate_at(5, 10, 0.2, "cosine") == pytest.approx(0.1)
    assert learning_rate_at(9, 10, 0.2, "cosine") < 0.01


def test_xavier_scales_by_the_fan_in_and_out():
    p = initialize_parameters(300, 10, 1, seed=5, init="xavier")
    rng = np.random.RandomState(5)
    np.testing.assert_allclose(p["W1"], rng.randn(10, 300) * np.sqrt(2 / 310), rtol=1e-15)
    np.testing.assert_allclose(p["W2"], rng.randn(1, 10) * np.sqrt(2 / 11), rtol=1e-15)


def test_the_names_params_accepts_are_the_ones_the_library_knows():
    from catdog import network, optimizers, params, scaling, solvers

    assert params.OPTIMIZERS == optimizers.OPTIMIZERS
    assert params.SCHEDULES == optimizers.SCHEDULES
    assert params.INITS == network.INITS
    assert params.SCALINGS == scaling.SCALINGS
    assert set(params.SOLVERS) == {"auto", *solvers.SOLVERS}
