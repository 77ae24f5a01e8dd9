"""The thread count changes the speed of training, never a bit of its results."""
from __future__ import annotations

import numpy as np
import pytest

from catdog.features import Examples
from catdog.params import TrainParams
from catdog.training import train


def pixels(m: int, n_x: int = 48, seed: int = 0) -> tuple[Examples, np.ndarray]:
    """uint8 photos (4x4 colour) whose first half decides the label, plus some noise."""
    rng = np.random.RandomState(seed)
    rows = rng.randint(0, 256, size=(m, n_x)).astype(np.uint8)
    Y = (rows[:, : n_x // 2].mean(axis=1) + rng.randn(m) * 8 > 127.5).reshape(1, m)
    return Examples(rows, 255), Y.astype(np.float64)


def fingerprint(result) -> tuple:
    return (tuple(result.costs), tuple(result.train_accuracy), tuple(result.test_accuracy),
            tuple(result.validation_loss), result.best_iteration,
            tuple(result.parameters[k].tobytes() for k in ("W1", "b1", "W2", "b2")))


RECIPES = {
    # m > 1024: several Gram tiles, many chunks of examples
    "gram": dict(solver="gram", m=1100),
    "blocked": dict(solver="blocked", m=700),
    "direct": dict(solver="direct", m=300),
    "adam mini-batches": dict(m=700, batch_size=200, optimizer="adam", input_scaling="standardize",
                              augment_flip=True, augment_shift=1, weight_decay=0.01,
                              validation_fraction=0.2, lr_schedule="cosine", init="xavier"),
    # fast arithmetic has chunks of its own size: several of them per pass, and per batch
    "blocked, fast": dict(solver="blocked", m=700, arithmetic="fast"),
    "adam mini-batches, fast": dict(m=700, batch_size=300, optimizer="adam", augment_flip=True,
                                    weight_decay=0.01, arithmetic="fast"),
}


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_thread_count_gives_the_same_bits(recipe):
    settings = dict(RECIPES[recipe])
    X, Y = pixels(settings.pop("m"))
    X_test, Y_test = pixels(150, seed=1)
    runs = [fingerprint(train(X, Y, TrainParams(hidden_size=5, learning_rate=0.05, iterations=12,
                                                seed=2, dtype="float32", cost_every=1,
                                                eval_every=3, threads=threads, **settings),
                              X_test=X_test, Y_test=Y_test, progress=False))
            for threads in (1, 2, 3, 4)]
    assert runs[0][0][-1] < runs[0][0][0]  # it trains
    for threads, run in zip((2, 3, 4), runs[1:]):
        assert run == runs[0], f"{threads} threads differ from 1"
