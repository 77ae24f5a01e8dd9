import numpy as np
import pytest

from catdog.model import Model, load_model, save_model
from catdog.params import TrainParams
from catdog.training import TrainingDiverged, train, training_metrics


def separable(m=80, n_x=48, seed=0):
    rng = np.random.RandomState(seed)
    Y = (np.arange(m) % 2).reshape(1, m).astype(np.float64)
    X = rng.rand(n_x, m) * 0.5 + Y * 0.5 * (np.arange(n_x) < n_x // 2)[:, None]
    return X, Y


def test_costs_are_recorded_every_n_iterations_and_at_the_last():
    X, Y = separable()
    result = train(X, Y, TrainParams(hidden_size=4, learning_rate=0.5, iterations=25, seed=0,
                                     dtype="float64", cost_every=10), progress=False)
    assert result.cost_iterations == [0, 10, 20, 24]
    full = train(X, Y, TrainParams(hidden_size=4, learning_rate=0.5, iterations=25, seed=0,
                                   dtype="float64", cost_every=1), progress=False)
    assert result.costs == [full.costs[i] for i in (0, 10, 20, 24)]


def test_training_learns_a_separable_problem():
    X, Y = separable()
    result = train(X, Y, TrainParams(hidden_size=4, learning_rate=1.0, iterations=400, seed=0,
                                     dtype="float64", cost_every=50), progress=False)
    metrics = training_metrics(result.parameters, X, Y)
    assert metrics["accuracy"] == 1.0 and metrics["final_cost"] < result.costs[0]


def test_same_seed_gives_identical_parameters():
    X, Y = separable()
    a = train(X, Y, TrainParams(hidden_size=4, learning_rate=0.5, iterations=30, seed=3,
                                dtype="float32", cost_every=10), progress=False).parameters
    b = train(X, Y, TrainParams(hidden_size=4, learning_rate=0.5, iterations=30, seed=3,
                                dtype="float32", cost_every=10), progress=False).parameters
    for name in a:
        assert a[name].tobytes() == b[name].tobytes()


def test_divergence_names_the_learning_rate():
    X, Y = separable()
    with pytest.raises(TrainingDiverged, match="train.learning_rate"):
        train(X, Y, TrainParams(hidden_size=4, learning_rate=1e38, iterations=20, seed=0,
                                dtype="float32", cost_every=1), progress=False)


def test_a_model_round_trips_with_its_metadata(tmp_path):
    X, Y = separable(n_x=12)
    params = train(X, Y, TrainParams(hidden_size=3, learning_rate=0.5, iterations=5, seed=0,
                                     dtype="float32", cost_every=1), progress=False).parameters
    save_model(tmp_path / "model.npz", Model(params, image_size=2))
    model = load_model(tmp_path / "model.npz")
    assert model.image_size == 2 and model.channel_order == "BGR"
    assert model.label_names == ("cat", "dog")
    for name in params:
        np.testing.assert_array_equal(model.parameters[name], params[name])


@pytest.mark.parametrize("solver", ["gram", "blocked"])
def test_accuracy_curves_match_the_plain_solver(solver):
    X, Y = separable(m=90)
    X_test, Y_test = separable(m=30, seed=5)
    runs = [train(X, Y, TrainParams(hidden_size=4, learning_rate=0.5, iterations=23, seed=0,
                                    dtype="float64", cost_every=5, solver=name, threads=0,
                                    eval_every=10), progress=False, X_test=X_test, Y_test=Y_test)
            for name in ("direct", solver)]
    assert runs[0].accuracy_iterations == runs[1].accuracy_iterations == [0, 10, 20, 22]
    assert runs[0].test_accuracy == runs[1].test_accuracy
    assert runs[0].train_accuracy == runs[1].train_accuracy
    # the first entry is the untrained network's accuracy
    from catdog.network import initialize_parameters, predict

    p0 = initialize_parameters(X.shape[0], 4, 1, 0)
    assert runs[1].test_accuracy[0] == np.mean(predict(p0, X_test) == Y_test)


def test_mistakes_grid_shows_the_most_confident_errors_first():
    from catdog.gallery import TILE, mistakes_grid, most_confident_mistakes

    y = np.array([1, 0, 1, 0, 1])
    p = np.array([0.9, 0.8, 0.05, 0.3, 0.45])
    assert most_confident_mistakes(y, p, 0.5, 10).tolist() == [2, 1, 4]
    images = np.stack([np.full((8, 8, 3), 40 * i, np.uint8) for i in range(5)])
    grid = mistakes_grid(images, y, p, ("cat", "dog"), k=16, columns=2)
    assert grid.shape[1] == 2 * TILE and grid.dtype == np.uint8
    assert (grid[:TILE, :TILE] == 80).all()  # image 2 in the first tile
    assert (grid[:TILE, TILE:2 * TILE] == 40).all()  # then image 1


# ---- validation, early stopping, preprocessing --------------------------------------------
def photos(m=120, s=4, seed=0):
    """uint8 colour photos (s x s) whose brightness decides the label."""
    from catdog.features import Examples

    rng = np.random.RandomState(seed)
    Y = (np.arange(m) % 2).reshape(1, m).astype(np.float64)
    rows = rng.randint(0, 200, size=(m, 3 * s * s)) + 55 * Y.T * (rng.rand(m, 1) > 0.3)
    return Examples(rows.astype(np.uint8), 255), Y


def test_the_validation_split_is_seeded_stratified_and_disjoint():
    from catdog.training import validation_split

    Y = np.array([[0] * 30 + [1] * 70])
    keep, held = validation_split(Y, 0.2, seed=4)
    assert len(held) == 20 and (Y[0, held] == 1).sum() == 14
    assert not set(keep) & set(held) and len(keep) + len(held) == 100
    again, _ = validation_split(Y, 0.2, seed=4)
    other, _ = validation_split(Y, 0.2, seed=5)
    assert np.array_equal(keep, again) and not np.array_equal(keep, other)


def test_early_stopping_returns_the_recorded_best_iteration():
    X, Y = photos()
    records = []
    result = train(X, Y, TrainParams(hidden_size=6, learning_rate=0.05, iterations=60, seed=1,
                                     dtype="float64", eval_every=4, optimizer="adam",
                                     batch_size=16, validation_fraction=0.25, patience=3,
                                     cost_every=1),
                         progress=False, on_record=lambda i, point: records.append((i, point)))
    losses = result.validation_loss
    best = int(np.argmin(losses))
    assert result.best_iteration == result.accuracy_iterations[best]
    assert best < len(losses) - 1 < 15  # it got worse afterwards, and stopped early
    assert result.iterations_run == result.accuracy_iterations[-1] + 1 < 60
    # the callback saw every recorded point, with its metrics
    evaluated = [(i, p) for i, p in records if "validation_loss" in p]
    assert [i for i, _ in evaluated] == result.accuracy_iterations
    assert [p["validation_loss"] for _, p in evaluated] == losses
    assert [i for i, p in records if "cost" in p] == result.cost_iterations
    # the weights returned are the best iteration's: same validation loss again
    from catdog.features import Examples
    from catdog.training import validation_split

    _, held = validation_split(Y, 0.25, 1)
    again = training_metrics(result.parameters, Examples(X.rows[held], 255), Y[:, held],
                             scaling=result.scaling)
    assert again["final_cost"] == pytest.approx(losses[best], rel=1e-12)


def test_standardized_inputs_round_trip_through_the_model_file(tmp_path):
    X, Y = photos(m=60)
    result = train(X, Y, TrainParams(hidden_size=3, learning_rate=0.1, iterations=5, seed=0,
                                     input_scaling="standardize", cost_every=1), progress=False)
    pixels = X.rows.astype(np.float64) / 255
    np.testing.assert_allclose(result.scaling.mean, pixels.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(result.scaling.std, pixels.std(axis=0), rtol=1e-9)
    save_model(tmp_path / "model.npz", Model(result.parameters, 4, result.scaling))
    model = load_model(tmp_path / "model.npz")
    standardized = (pixels - result.scaling.mean) / result.scaling.std
    from catdog.network import predict_proba

    ref = predict_proba({k: v.astype(np.float64) for k, v in result.parameters.items()},
                        standardized.T)[0]
    np.testing.assert_allclose(model.probabilities(X.rows.T), ref, rtol=1e-5)
    plain = Model(result.parameters, 4)  # the same weights without the statistics
    assert not np.allclose(plain.probabilities(X.rows.T), ref, rtol=1e-3)
