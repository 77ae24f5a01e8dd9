import numpy as np
import pytest

from catdog.model import Model, load_model, save_model
from catdog.training import TrainingDiverged, train, training_metrics


def separable(m=80, n_x=48, seed=0):
    rng = np.random.RandomState(seed)
    Y = (np.arange(m) % 2).reshape(1, m).astype(np.float64)
    X = rng.rand(n_x, m) * 0.5 + Y * 0.5 * (np.arange(n_x) < n_x // 2)[:, None]
    return X, Y


def test_costs_are_recorded_every_n_iterations_and_at_the_last():
    X, Y = separable()
    result = train(X, Y, 4, 0.5, 25, 0, "float64", cost_every=10, progress=False)
    assert result.cost_iterations == [0, 10, 20, 24]
    full = train(X, Y, 4, 0.5, 25, 0, "float64", cost_every=1, progress=False)
    assert result.costs == [full.costs[i] for i in (0, 10, 20, 24)]


def test_training_learns_a_separable_problem():
    X, Y = separable()
    result = train(X, Y, 4, 1.0, 400, 0, "float64", 50, progress=False)
    metrics = training_metrics(result.parameters, X, Y)
    assert metrics["accuracy"] == 1.0 and metrics["final_cost"] < result.costs[0]


def test_same_seed_gives_identical_parameters():
    X, Y = separable()
    a = train(X, Y, 4, 0.5, 30, 3, "float32", 10, progress=False).parameters
    b = train(X, Y, 4, 0.5, 30, 3, "float32", 10, progress=False).parameters
    for name in a:
        assert a[name].tobytes() == b[name].tobytes()


def test_divergence_names_the_learning_rate():
    X, Y = separable()
    with pytest.raises(TrainingDiverged, match="train.learning_rate"):
        train(X, Y, 4, 1e38, 20, 0, "float32", 1, progress=False)


def test_a_model_round_trips_with_its_metadata(tmp_path):
    X, Y = separable(n_x=12)
    params = train(X, Y, 3, 0.5, 5, 0, "float32", 1, progress=False).parameters
    save_model(tmp_path / "model.npz", Model(params, image_size=2))
    model = load_model(tmp_path / "model.npz")
    assert model.image_size == 2 and model.channel_order == "BGR"
    assert model.label_names == ("cat", "dog")
    for name in params:
        np.testing.assert_array_equal(model.parameters[name], params[name])
