"""The network against an independent, straightforward implementation of the same equations."""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

import catdog
from catdog.network import (
    backward_propagation,
    compute_cost,
    cost_from_logits,
    forward_propagation,
    initialize_parameters,
    predict,
    sigmoid,
    update_parameters,
)
from catdog.features import Examples
from catdog.solvers import choose_solver
from catdog.params import TrainParams
from catdog.training import train


# ---- reference: the six equations written out plainly, in float64 --------------------------
def ref_forward(X, W1, b1, W2, b2):
    A1 = np.tanh(np.dot(W1, X) + b1)
    A2 = 1.0 / (1.0 + np.exp(-(np.dot(W2, A1) + b2)))
    return A1, A2


def ref_cost(A2, Y):
    m = Y.shape[1]
    return -np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / m


def ref_gradients(X, Y, W2, A1, A2):
    m = X.shape[1]
    dZ2 = A2 - Y
    dZ1 = np.dot(W2.T, dZ2) * (1 - A1 ** 2)
    return (np.dot(dZ1, X.T) / m, np.sum(dZ1, axis=1, keepdims=True) / m,
            np.dot(dZ2, A1.T) / m, np.sum(dZ2, axis=1, keepdims=True) / m)


def ref_cost_curve(X, Y, W1, b1, W2, b2, learning_rate, iterations):
    costs = []
    for _ in range(iterations):
        A1, A2 = ref_forward(X, W1, b1, W2, b2)
        costs.append(ref_cost(A2, Y))
        dW1, db1, dW2, db2 = ref_gradients(X, Y, W2, A1, A2)
        W1, b1 = W1 - learning_rate * dW1, b1 - learning_rate * db1
        W2, b2 = W2 - learning_rate * dW2, b2 - learning_rate * db2
    return np.array(costs)


def toy_data(n_x=300, m=120, seed=0):
    """Pixels in [0, 1] whose mean brightness in the first half decides the label."""
    rng = np.random.RandomState(seed)
    X = rng.randint(0, 256, size=(n_x, m)) / 255.0
    Y = (X[: n_x // 2].mean(axis=0, keepdims=True) > 0.5).astype(np.float64)
    return X, Y


# ---- tests -----------------------------------------------------------------------------------
def test_initialize_parameters_draws_w1_then_w2_from_randomstate():
    p = initialize_parameters(5, 4, 1, seed=3)
    rng = np.random.RandomState(3)
    np.testing.assert_array_equal(p["W1"], rng.randn(4, 5) * 0.01)
    np.testing.assert_array_equal(p["W2"], rng.randn(1, 4) * 0.01)
    assert p["b1"].shape == (4, 1) and not p["b1"].any()
    assert p["b2"].shape == (1, 1) and not p["b2"].any()


def test_initialize_parameters_does_not_touch_global_random_state():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    initialize_parameters(5, 4, 1, seed=3)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_functions_are_exported_under_their_names():
    assert catdog.forward_propagation is forward_propagation
    assert catdog.initialize_parameters is initialize_parameters


def test_forward_and_backward_match_the_reference():
    X, Y = toy_data()
    p = initialize_parameters(X.shape[0], 7, 1, seed=2)
    p["b1"] = np.random.RandomState(5).randn(7, 1) * 0.1
    A2, cache = forward_propagation(X, p)
    A1_ref, A2_ref = ref_forward(X, p["W1"], p["b1"], p["W2"], p["b2"])
    np.testing.assert_allclose(A2, A2_ref, rtol=1e-13)
    np.testing.assert_allclose(cache["A1"], A1_ref, rtol=1e-13)
    assert A2.shape == (1, X.shape[1]) and cache["Z1"].shape == (7, X.shape[1])
    grads = backward_propagation(p, cache, X, Y)
    for name, ref in zip(("dW1", "db1", "dW2", "db2"), ref_gradients(X, Y, p["W2"], A1_ref, A2_ref)):
        np.testing.assert_allclose(grads[name], ref, rtol=1e-12, atol=1e-18, err_msg=name)
        assert grads[name].shape == p[name[1:]].shape


def test_cost_forms_agree_with_the_reference():
    X, Y = toy_data()
    p = initialize_parameters(X.shape[0], 7, 1, seed=2)
    A2, cache = forward_propagation(X, p)
    ref = ref_cost(A2, Y)
    assert compute_cost(A2, Y) == pytest.approx(ref, rel=1e-14)
    assert compute_cost(A2, Y, p) == pytest.approx(ref, rel=1e-14)  # three-argument form
    assert cost_from_logits(cache["Z2"], Y) == pytest.approx(ref, rel=1e-12)


def test_gradients_pass_a_numerical_check():
    X, Y = toy_data(n_x=20, m=30)
    p = initialize_parameters(20, 4, 1, seed=7)
    p = {k: v + np.random.RandomState(8).randn(*v.shape) * 0.5 for k, v in p.items()}

    def cost(params):
        return cost_from_logits(forward_propagation(X, params)[1]["Z2"], Y)

    _, cache = forward_propagation(X, p)
    grads = backward_propagation(p, cache, X, Y)
    h = 1e-6
    for name, value in p.items():
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in p.items()}
            minus = {k: v.copy() for k, v in p.items()}
            plus[name][idx] += h
            minus[name][idx] -= h
            numeric[idx] = (cost(plus) - cost(minus)) / (2 * h)
        analytic = grads["d" + name]
        rel = np.linalg.norm(analytic - numeric) / (np.linalg.norm(analytic) + np.linalg.norm(numeric))
        assert rel < 1e-7, (name, rel)


@pytest.mark.parametrize("solver", ["direct", "blocked", "gram"])
@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-9), ("float32", 1e-4)])
def test_every_solver_reproduces_the_reference_cost_curve(solver, dtype, rtol):
    X, Y = toy_data()
    result = train(X, Y, TrainParams(hidden_size=6, learning_rate=0.01, iterations=300, seed=4,
                                     dtype=dtype, cost_every=1, solver=solver), progress=False)
    p0 = initialize_parameters(X.shape[0], 6, 1, seed=4)
    ref = ref_cost_curve(X, Y, p0["W1"], p0["b1"], p0["W2"], p0["b2"], 0.01, 300)
    assert result.solver == solver and result.cost_iterations == list(range(300))
    assert result.parameters["W1"].dtype == np.dtype(dtype)
    np.testing.assert_allclose(result.costs, ref, rtol=rtol)
    assert ref[-1] < ref[0]  # the regime really trains


@pytest.mark.parametrize("solver", ["blocked", "gram"])
def test_every_solver_ends_with_the_reference_weights(solver):
    X, Y = toy_data(m=300)  # several blocks of examples
    p = initialize_parameters(X.shape[0], 5, 1, seed=9)
    W1, b1, W2, b2 = p["W1"], p["b1"], p["W2"], p["b2"]
    for _ in range(40):
        A1, A2 = ref_forward(X, W1, b1, W2, b2)
        dW1, db1, dW2, db2 = ref_gradients(X, Y, W2, A1, A2)
        W1, b1, W2, b2 = W1 - 0.05 * dW1, b1 - 0.05 * db1, W2 - 0.05 * dW2, b2 - 0.05 * db2
    got = train(X, Y, TrainParams(hidden_size=5, learning_rate=0.05, iterations=40, seed=9,
                                  dtype="float64", cost_every=10, solver=solver),
                      progress=False).parameters
    for name, ref in zip(("W1", "b1", "W2", "b2"), (W1, b1, W2, b2)):
        np.testing.assert_allclose(got[name], ref, rtol=1e-9, atol=1e-14, err_msg=name)


def test_pixels_stored_as_uint8_train_exactly_like_their_float_copy():
    """With the BLAS's arithmetic, uint8 pixels and their float copy give the same bits; with
    exact products (pixels only) the same curve to float64's precision."""
    rng = np.random.RandomState(3)
    pixels = rng.randint(0, 256, size=(150, 200)).astype(np.uint8)  # (m, n_x), example-major
    Y = (rng.rand(1, 150) > 0.5).astype(np.float64)
    X = pixels.T / 255.0
    for solver in ("blocked", "gram"):
        settings = TrainParams(hidden_size=4, learning_rate=0.05, iterations=30, seed=1,
                               dtype="float64", cost_every=1, solver=solver)
        fast = replace(settings, arithmetic="fast")
        a = train(Examples(pixels, 255), Y, fast, progress=False)
        b = train(X, Y, settings, progress=False)
        assert (a.arithmetic, b.arithmetic) == ("fast", "fast")
        assert a.costs == b.costs
        for name in a.parameters:
            np.testing.assert_array_equal(a.parameters[name], b.parameters[name])
        c = train(Examples(pixels, 255), Y, settings, progress=False)
        assert c.arithmetic == "exact"
        np.testing.assert_allclose(c.costs, b.costs, rtol=1e-13)
        for name in c.parameters:
            np.testing.assert_allclose(c.parameters[name], b.parameters[name], rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("solver", ["blocked", "gram"])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_a_fixed_thread_count_gives_identical_bits(solver, threads):
    X, Y = toy_data(m=200)
    runs = [train(X, Y, TrainParams(hidden_size=4, learning_rate=0.05, iterations=20, seed=1,
                                    dtype="float32", cost_every=1, solver=solver, threads=threads),
                        progress=False) for _ in range(2)]
    assert runs[0].costs == runs[1].costs
    for name in runs[0].parameters:
        assert runs[0].parameters[name].tobytes() == runs[1].parameters[name].tobytes()


def test_auto_picks_gram_only_for_few_examples_and_many_iterations():
    assert choose_solver(m=800, n_x=12288, hidden_size=10, iterations=2000) == "gram"
    assert choose_solver(m=6000, n_x=12288, hidden_size=10, iterations=2000) == "gram"
    assert choose_solver(m=20000, n_x=12288, hidden_size=10, iterations=2000) == "blocked"
    assert choose_solver(m=6000, n_x=12288, hidden_size=10, iterations=5) == "blocked"


def test_saturated_outputs_give_finite_costs_and_no_warnings():
    Y = np.array([[1.0, 0.0, 1.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A2 = sigmoid(np.array([[1000.0, -1000.0, -800.0, 800.0]]))
        assert np.all(np.isfinite(A2)) and A2[0, 0] == 1.0 and A2[0, 1] == 0.0
        cost = compute_cost(A2, Y)
        assert np.isfinite(cost) and cost > 10  # two confident mistakes
        assert compute_cost(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]])) < 1e-12
        logits_cost = cost_from_logits(np.array([[1000.0, -1000.0, -800.0, 800.0]]), Y)
        assert logits_cost == pytest.approx((800 + 800) / 4)


def test_sigmoid_matches_the_textbook_formula_where_that_formula_is_safe():
    z = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-15, atol=0)


def test_update_parameters_steps_against_the_gradient():
    p = {"W1": np.ones((2, 3)), "b1": np.zeros((2, 1)), "W2": np.ones((1, 2)), "b2": np.zeros((1, 1))}
    g = {"dW1": np.full((2, 3), 2.0), "db1": np.ones((2, 1)), "dW2": np.ones((1, 2)), "db2": np.ones((1, 1))}
    new = update_parameters(p, g, 0.5)
    np.testing.assert_array_equal(new["W1"], np.zeros((2, 3)))
    np.testing.assert_array_equal(new["b2"], np.full((1, 1), -0.5))
    np.testing.assert_array_equal(p["W1"], np.ones((2, 3)))  # input left alone


def test_predict_thresholds_the_probability():
    p = {"W1": np.eye(2), "b1": np.zeros((2, 1)), "W2": np.array([[1.0, -1.0]]), "b2": np.zeros((1, 1))}
    X = np.array([[2.0, 0.0, 1.0], [0.0, 2.0, 1.0]])
    np.testing.assert_array_equal(predict(p, X), [[1, 0, 0]])


def test_symmetric_tiles_multiply_like_the_whole_matrix():
    from catdog.solvers import SymmetricTiles

    A = np.random.RandomState(2).randn(23, 7)
    S = A @ A.T
    tiles = SymmetricTiles(S, size=5)  # 23 is not a multiple of 5: ragged last tiles
    assert len(tiles.tiles) == 15
    for k in (4, 16, 20):  # padded with zero columns, or not
        V = np.random.RandomState(k).randn(23, k)
        got = tiles.times(V)
        assert got.shape == (23, k)
        np.testing.assert_allclose(got, S @ V, rtol=1e-12, atol=1e-12)


def test_xavier_scales_each_layer_by_its_own_fans():
    """Glorot's sqrt(2 / (fan_in + fan_out)): 5 inputs, 4 hidden units, 1 output."""
    p = initialize_parameters(5, 4, 1, seed=3, init="xavier")
    rng = np.random.RandomState(3)
    np.testing.assert_array_equal(p["W1"], rng.randn(4, 5) * np.sqrt(2 / 9))
    np.testing.assert_array_equal(p["W2"], rng.randn(1, 4) * np.sqrt(2 / 5))
    assert not p["b1"].any() and not p["b2"].any()


def test_an_unknown_init_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown init 'he'; expected one of tutorial, xavier"):
        initialize_parameters(5, 4, 1, seed=3, init="he")


def test_float32_outputs_are_clipped_one_float32_epsilon_from_0_and_1():
    """Two confident mistakes in float32: each costs -log(2^-23) = 23 log 2."""
    A2 = np.array([[1.0, 0.0]], dtype=np.float32)
    cost = compute_cost(A2, np.array([[0.0, 1.0]]))
    assert cost == pytest.approx(23 * np.log(2), rel=1e-6)


def test_update_parameters_uses_the_tutorials_learning_rate_by_default():
    p = {"W1": np.zeros((2, 3)), "b1": np.zeros((2, 1)), "W2": np.zeros((1, 2)), "b2": np.zeros((1, 1))}
    g = {"d" + name: np.ones_like(value) for name, value in p.items()}
    for name, value in update_parameters(p, g).items():
        np.testing.assert_array_equal(value, np.full_like(value, -0.1), err_msg=name)


def test_predict_proba_is_the_sigmoid_of_the_output_and_predict_thresholds_it():
    """W1 = I, W2 = [1, -1]: the columns' logits are tanh(2), -tanh(2) and 0."""
    from catdog.network import predict_proba

    p = {"W1": np.eye(2), "b1": np.zeros((2, 1)), "W2": np.array([[1.0, -1.0]]), "b2": np.zeros((1, 1))}
    X = np.array([[2.0, 0.0, 1.0], [0.0, 2.0, 1.0]])
    t = np.tanh(2.0)
    expected = [[1 / (1 + np.exp(-t)), 1 / (1 + np.exp(t)), 0.5]]  # about 0.724, 0.276, 0.5
    np.testing.assert_allclose(predict_proba(p, X), expected, rtol=1e-15)
    np.testing.assert_array_equal(predict(p, X, threshold=0.7), [[1, 0, 0]])
    np.testing.assert_array_equal(predict(p, X, threshold=0.75), [[0, 0, 0]])
    np.testing.assert_array_equal(predict(p, X, threshold=0.3), [[1, 0, 1]])
    assert predict(p, X).dtype == np.uint8  # one byte per 0/1 answer


@pytest.mark.parametrize("m", [5, 256, 257, 700])
def test_the_exact_gram_matrix_built_above_its_diagonal_is_the_whole_product(m):
    from catdog.parallel import Workers
    from catdog.solvers import DenseGram

    rng = np.random.default_rng(m)
    F = rng.integers(0, 256, (m, 300)).astype(np.float64)
    gram, workers = DenseGram(m), Workers(2)
    try:
        for start in (0, 120):  # two blocks of features, as GramSolver adds them
            gram.add_products(F[:, start:start + 180], workers)
        gram.complete()
    finally:
        workers.close()
    expected = np.einsum("ik,jk->ij", F[:, :180], F[:, :180]) + np.einsum(
        "ik,jk->ij", F[:, 120:300], F[:, 120:300])
    np.testing.assert_array_equal(gram.S, expected)
