"""Full-batch gradient descent for the two-layer network."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from catdog.errors import CatdogError
from catdog.network import Parameters, cost_from_logits, sigmoid
from catdog.features import Examples
from catdog.solvers import forward_logits, make_solver


class TrainingDiverged(CatdogError):
    """The cost stopped being a finite number; no model is written."""


@dataclass
class TrainResult:
    parameters: Parameters
    solver: str
    cost_iterations: list[int] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)
    # Accuracy of the parameters of these iterations (before their update), when recorded.
    accuracy_iterations: list[int] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)


def accuracy_from_logits(Z2: np.ndarray, Y: np.ndarray) -> float:
    """Share of examples whose probability of dog, above or below 0.5, matches Y."""
    return float(np.mean((sigmoid(Z2) > 0.5) == (np.asarray(Y) == 1)))


def _as_examples(X: np.ndarray | Examples) -> Examples:
    return X if isinstance(X, Examples) else Examples.from_columns(X)


def train(X: np.ndarray | Examples, Y: np.ndarray, hidden_size: int, learning_rate: float,
          iterations: int, seed: int, dtype: str = "float32", cost_every: int = 1,
          progress: bool = True, solver: str = "auto", threads: int = 0,
          X_test: np.ndarray | Examples | None = None, Y_test: np.ndarray | None = None,
          eval_every: int = 0) -> TrainResult:
    """Train on X (n_x, m) -- or on `Examples` -- and Y (1, m).

    Iteration i (from 0) runs a forward pass, takes its cost (before the update), backpropagates
    and updates. The cost of iterations 0, cost_every, 2 * cost_every, ... and of the last one
    is recorded. With X_test, Y_test and eval_every > 0, the train and test accuracy of the
    same iterations' parameters are recorded every eval_every iterations and at the last.
    `solver` picks how the products with X are run ("auto": the cheapest for the shapes;
    see `catdog.solvers`); all compute the same iterates. `threads` = 0 uses every core.
    """
    examples = _as_examples(X)
    Y = np.asarray(Y).reshape(1, examples.m)
    track = X_test is not None and eval_every > 0
    held_out = _as_examples(X_test) if track else None
    engine = make_solver(solver, examples, Y, hidden_size, seed, dtype, iterations, threads,
                         held_out)
    if track:
        Y_test = np.asarray(Y_test).reshape(1, -1)
    result = TrainResult(parameters={}, solver=engine.name)
    bar = tqdm(range(iterations), desc=f"train ({engine.name})", unit="it",
               disable=None if progress else True)
    # Overflow shows up as a non-finite cost, reported below as divergence, not as warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for i in bar:
            last = i == iterations - 1
            evaluate = track and (i % eval_every == 0 or last)
            if evaluate:
                test_accuracy = accuracy_from_logits(engine.held_out_logits(), Y_test)
            cost, Z2 = engine.step(learning_rate)
            if not math.isfinite(cost):
                raise TrainingDiverged(
                    f"training diverged at iteration {i} (cost {cost}); "
                    f"lower train.learning_rate (now {learning_rate})")
            if i % cost_every == 0 or last:
                result.cost_iterations.append(i)
                result.costs.append(cost)
                bar.set_postfix(cost=f"{cost:.6f}", refresh=False)
            if evaluate:
                result.accuracy_iterations.append(i)
                result.train_accuracy.append(accuracy_from_logits(Z2, Y))
                result.test_accuracy.append(test_accuracy)
        result.parameters = engine.result()
    if not all(np.all(np.isfinite(p)) for p in result.parameters.values()):
        raise TrainingDiverged(
            f"training diverged: the weights are no longer finite; "
            f"lower train.learning_rate (now {learning_rate})")
    return result


def training_metrics(parameters: Parameters, X: np.ndarray | Examples, Y: np.ndarray,
                     threads: int = 0) -> dict:
    """Cost and accuracy of the trained parameters on the data they were trained on."""
    examples = _as_examples(X)
    dtype = parameters["W1"].dtype
    Y = np.asarray(Y, dtype=dtype).reshape(1, examples.m)
    Z2 = forward_logits(parameters, examples, threads)
    return {
        "final_cost": cost_from_logits(Z2, Y),
        "accuracy": accuracy_from_logits(Z2, Y),
        "n_examples": examples.m,
    }
