"""Full-batch gradient descent for the two-layer network."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from catdog.errors import CatdogError
from catdog.network import (
    Parameters,
    backward_propagation,
    cost_from_logits,
    forward_propagation,
    initialize_parameters,
    update_parameters,
)


class TrainingDiverged(CatdogError):
    """The cost stopped being a finite number; no model is written."""


@dataclass
class TrainResult:
    parameters: Parameters
    cost_iterations: list[int] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)


def train(X: np.ndarray, Y: np.ndarray, hidden_size: int, learning_rate: float,
          iterations: int, seed: int, dtype: str = "float32", cost_every: int = 1,
          progress: bool = True) -> TrainResult:
    """Train on X (n_x, m) and Y (1, m).

    Iteration i (from 0) runs a forward pass, takes its cost (before the update), backpropagates
    and updates. The cost of iterations 0, cost_every, 2 * cost_every, ... and of the last one
    is recorded.
    """
    X = np.asarray(X, dtype=dtype)
    Y = np.asarray(Y, dtype=dtype)
    parameters = initialize_parameters(X.shape[0], hidden_size, Y.shape[0], seed, dtype)
    result = TrainResult(parameters)
    bar = tqdm(range(iterations), desc="train", unit="it", disable=None if progress else True)
    # Overflow shows up as a non-finite cost, reported below as divergence, not as warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for i in bar:
            _, cache = forward_propagation(X, parameters)
            cost = cost_from_logits(cache["Z2"], Y)
            if not math.isfinite(cost):
                raise TrainingDiverged(
                    f"training diverged at iteration {i} (cost {cost}); "
                    f"lower train.learning_rate (now {learning_rate})")
            if i % cost_every == 0 or i == iterations - 1:
                result.cost_iterations.append(i)
                result.costs.append(cost)
                bar.set_postfix(cost=f"{cost:.6f}", refresh=False)
            grads = backward_propagation(parameters, cache, X, Y)
            parameters = update_parameters(parameters, grads, learning_rate)
    if not all(np.all(np.isfinite(p)) for p in parameters.values()):
        raise TrainingDiverged(
            f"training diverged: the weights are no longer finite; "
            f"lower train.learning_rate (now {learning_rate})")
    result.parameters = parameters
    return result


def training_metrics(parameters: Parameters, X: np.ndarray, Y: np.ndarray) -> dict:
    """Cost and accuracy of the trained parameters on the data they were trained on."""
    dtype = parameters["W1"].dtype
    X, Y = np.asarray(X, dtype=dtype), np.asarray(Y, dtype=dtype)
    A2, cache = forward_propagation(X, parameters)
    return {
        "final_cost": cost_from_logits(cache["Z2"], Y),
        "accuracy": float(np.mean((A2 > 0.5) == (Y == 1))),
        "n_examples": int(Y.shape[1]),
    }
