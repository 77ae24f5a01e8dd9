"""Optimizers, schedules, weight decay and mini-batches against update rules written out here."""
from __future__ import annotations

import math

import numpy as np
import pytest

from catdog.network import initialize_parameters
from catdog.optimizers import Adam, Momentum, cos_pi, learning_rate_at, make_optimizer
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


def few_parameters(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(shape).astype(dtype)
            for k, shape in (("W1", (3, 2)), ("b1", (3, 1)), ("W2", (1, 3)), ("b2", (1, 1)))}


def gradient_sequence(steps, seed=1):
    rng = np.random.default_rng(seed)
    return [{"d" + k: rng.standard_normal(v.shape) for k, v in few_parameters(np.float64).items()}
            for _ in range(steps)]


def textbook_adam(p, grads, lr, beta1, beta2, eps):
    """Adam written out, with beta ** t from pow."""
    p = {k: v.astype(np.float64) for k, v in p.items()}
    v = {k: 0.0 for k in p}
    s = {k: 0.0 for k in p}
    for t, g in enumerate(grads, start=1):
        for k in p:
            v[k] = beta1 * v[k] + (1 - beta1) * g["d" + k]
            s[k] = beta2 * s[k] + (1 - beta2) * g["d" + k] ** 2
            p[k] = p[k] - lr * (v[k] / (1 - beta1 ** t)) / (np.sqrt(s[k] / (1 - beta2 ** t)) + eps)
    return p


def textbook_momentum(p, grads, lr, beta):
    p = {k: v.astype(np.float64) for k, v in p.items()}
    v = {k: 0.0 for k in p}
    for g in grads:
        for k in p:
            v[k] = beta * v[k] + (1 - beta) * g["d" + k]
            p[k] = p[k] - lr * v[k]
    return p


def run(optimizer, p, grads, lr):
    for g in grads:
        p = optimizer.update(p, g, lr)
    return p


def test_adam_defaults_are_the_papers_and_count_steps():
    # beta1 0.9, beta2 0.999, eps 1e-8; tiny gradients late on make eps show.
    grads = gradient_sequence(5) + [{k: g * 1e-9 for k, g in gs.items()} for gs in gradient_sequence(3, 2)]
    p0 = few_parameters(np.float64)
    adam = Adam()
    got = run(adam, p0, grads, 0.01)
    ref = textbook_adam(p0, grads, 0.01, 0.9, 0.999, 1e-8)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-13, atol=1e-15, err_msg=k)
    assert adam.t == len(grads)


def test_adam_rounds_as_its_formulas_in_the_weights_dtype():
    # Each of v, s and the step is rounded as the formulas written in float32 round, whatever
    # the implementation does in place: the same bits, not only close ones.
    f32 = np.float32
    p0 = few_parameters(f32)
    grads = [{k: (g * 10.0 ** e).astype(f32) for k, g in gs.items()}
             for gs, e in zip(gradient_sequence(6, 4), (0, -3, 2, -8, 1, 0))]
    got = run(Adam(), p0, grads, 0.01)
    b1, b2, eps, lr = f32(0.9), f32(0.999), f32(1e-8), f32(0.01)
    p, v, s = dict(p0), {k: 0 for k in p0}, {k: 0 for k in p0}
    b1_t = b2_t = 1.0
    for g in grads:
        b1_t, b2_t = b1_t * 0.9, b2_t * 0.999
        c1, c2 = f32(1 - b1_t), f32(1 - b2_t)
        for k in p:
            d = g["d" + k]
            v[k] = b1 * v[k] + (1 - b1) * d
            s[k] = b2 * s[k] + (1 - b2) * (d * d)
            p[k] = p[k] - lr * ((v[k] / c1) / (np.sqrt(s[k] / c2) + eps))
    for k in p:
        assert got[k].dtype == np.float32 and np.array_equal(got[k], p[k]), k


def test_make_optimizer_passes_its_default_betas_in_order():
    grads = gradient_sequence(4)
    p0 = few_parameters(np.float64)
    got = run(make_optimizer("adam"), p0, grads, 0.01)
    ref = textbook_adam(p0, grads, 0.01, 0.9, 0.999, 1e-8)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-13, atol=1e-15, err_msg=k)
    got = run(make_optimizer("momentum"), p0, grads, 0.01)
    ref = textbook_momentum(p0, grads, 0.01, 0.9)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-13, atol=1e-15, err_msg=k)


def test_momentum_default_beta_is_0_9():
    grads = gradient_sequence(4)
    p0 = few_parameters(np.float64)
    got = run(Momentum(), p0, grads, 0.1)
    ref = textbook_momentum(p0, grads, 0.1, 0.9)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-13, atol=1e-15, err_msg=k)


@pytest.mark.parametrize("optimizer", [Momentum, Adam])
def test_float32_parameters_stay_float32(optimizer):
    # The running averages are kept in the weights' dtype: a float64 beta must not promote them.
    p0 = few_parameters(np.float32)
    grads = [{k: g.astype(np.float32) for k, g in gs.items()} for gs in gradient_sequence(3)]
    got = run(optimizer(), p0, grads, 0.01)
    assert {v.dtype for v in got.values()} == {np.dtype(np.float32)}
    ref = (textbook_adam(p0, grads, 0.01, 0.9, 0.999, 1e-8) if optimizer is Adam
           else textbook_momentum(p0, grads, 0.01, 0.9))
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_cos_pi_within_an_ulp_or_two_of_cos_on_zero_to_one():
    for x in np.linspace(0.0, 1.0, 1001):
        assert abs(cos_pi(float(x)) - math.cos(math.pi * float(x))) <= 1e-15, x


def test_cos_pi_is_exactly_odd_about_one_half():
    # The reflection cos(pi x) = -cos(pi (1 - x)) holds bit for bit: the upper half of the
    # cosine schedule mirrors the lower half.
    for x in np.linspace(0.5, 1.0, 501)[1:]:
        assert cos_pi(float(x)) == -cos_pi(1.0 - float(x)), x


def test_step_schedule_defaults_divide_by_ten_every_epoch():
    assert learning_rate_at(0, 10, 2.0, "step") == 2.0
    assert learning_rate_at(1, 10, 2.0, "step") == pytest.approx(0.2, rel=1e-15)
    assert learning_rate_at(3, 10, 2.0, "step") == pytest.approx(0.002, rel=1e-14)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        make_optimizer("sgd")
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        learning_rate_at(0, 10, 0.1, "linear")


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
def test_steps_shared_out_by_rows_give_the_same_bits(optimizer):
    # 300 rows of 1000: several blocks of rows (by_rows), each block on whichever thread.
    from catdog.parallel import Workers

    rng = np.random.default_rng(5)
    p0 = {"W1": rng.standard_normal((300, 1000)).astype(np.float32),
          "b1": rng.standard_normal((300, 1)).astype(np.float32),
          "W2": rng.standard_normal((1, 300)).astype(np.float32),
          "b2": np.zeros((1, 1), np.float32)}
    grads = [{"d" + k: rng.standard_normal(v.shape).astype(np.float32) for k, v in p0.items()}
             for _ in range(3)]
    before = {k: v.copy() for k, v in p0.items()}
    results = []
    for threads in (None, 1, 3):
        workers = None if threads is None else Workers(threads)
        opt, p = make_optimizer(optimizer), dict(p0)
        try:
            for g in grads:
                p = opt.update(p, g, 0.01, workers)
        finally:
            if workers is not None:
                workers.close()
        results.append(p)
    for p in results[1:]:
        for k in p0:
            assert np.array_equal(p[k], results[0][k]), k
    assert not np.array_equal(results[0]["W1"], p0["W1"])  # it stepped
    for k in p0:  # new arrays: the weights a snapshot holds never change
        assert np.array_equal(p0[k], before[k]), k


def test_by_rows_covers_every_row_once_in_blocks_fixed_by_the_shape():
    from catdog.parallel import ROW_BLOCK_ELEMENTS, Workers, by_rows

    seen = []
    workers = Workers(3)
    try:
        for shape in ((1000, 300), (7, 5), (ROW_BLOCK_ELEMENTS * 3 + 1,), (3, 0)):
            parts = []
            by_rows(workers, shape, parts.append)
            covered = np.concatenate([np.arange(shape[0])[part] for part in parts])
            assert sorted(covered.tolist()) == list(range(shape[0])), shape
            seen.append(sorted((p.start, p.stop) for p in parts))
    finally:
        workers.close()
    assert len(seen[0]) == -(-1000 // (ROW_BLOCK_ELEMENTS // 300))  # blocks of whole rows
    assert seen[1] == [(0, 7)]
    parts = []
    by_rows(None, (1000, 300), parts.append)
    assert parts == [slice(None)]
