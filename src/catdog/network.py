"""A two-layer network: tanh hidden layer, sigmoid output, cross-entropy cost.

Shapes (n_x inputs, n_h hidden units, n_y = 1 output, m examples):
    X (n_x, m), Y (1, m)
    W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1)
    Z1 = W1 X + b1, A1 = tanh(Z1)      (n_h, m)
    Z2 = W2 A1 + b2, A2 = sigmoid(Z2)   (1, m)
The arithmetic runs in the dtype of the parameters and of X.
"""
from __future__ import annotations

from typing import Any

import numpy as np

Parameters = dict[str, np.ndarray]


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), computed from e^-|z| so that no exponent overflows."""
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


INITS = ("tutorial", "xavier")


def initialize_parameters(n_x: int, n_h: int, n_y: int, seed: int | None = None,
                          dtype: Any = np.float64, init: str = "tutorial") -> Parameters:
    """W1 then W2 drawn from N(0, 1) by RandomState(seed) and scaled; zero biases.

    init "tutorial" scales by 0.01; "xavier" (Glorot, suited to tanh) by sqrt(2 / (fan_in +
    fan_out)), which keeps the variance of the activations about the same from layer to layer.
    """
    rng = np.random.RandomState(seed)
    W1 = rng.randn(n_h, n_x) * _init_scale(init, n_x, n_h)
    W2 = rng.randn(n_y, n_h) * _init_scale(init, n_h, n_y)
    return {
        "W1": W1.astype(dtype, copy=False),
        "b1": np.zeros((n_h, 1), dtype=dtype),
        "W2": W2.astype(dtype, copy=False),
        "b2": np.zeros((n_y, 1), dtype=dtype),
    }


def _init_scale(init: str, fan_in: int, fan_out: int) -> float:
    if init == "tutorial":
        return 0.01
    if init == "xavier":
        return float(np.sqrt(2.0 / (fan_in + fan_out)))
    raise ValueError(f"unknown init {init!r}; expected one of {', '.join(INITS)}")


def forward_propagation(X: np.ndarray, parameters: Parameters) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return A2 (1, m) and the cache {"Z1", "A1", "Z2", "A2"} that backward_propagation needs."""
    Z1 = parameters["W1"] @ X + parameters["b1"]
    A1 = np.tanh(Z1)
    Z2 = parameters["W2"] @ A1 + parameters["b2"]
    A2 = sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def compute_cost(A2: np.ndarray, Y: np.ndarray, parameters: Parameters | None = None) -> float:
    """Mean cross-entropy of probabilities A2 (1, m) against labels Y (1, m).

    A2 is clipped one machine epsilon away from 0 and 1 so that saturated outputs give a large
    finite cost instead of inf or NaN. `parameters` is accepted and unused, as in the
    three-argument form of this function.
    """
    eps = np.finfo(np.result_type(A2, np.float32)).eps
    A2 = np.clip(A2, eps, 1 - eps)
    m = Y.shape[1]
    log_probs = Y * np.log(A2) + (1 - Y) * np.log(1 - A2)
    return float(-np.sum(log_probs) / m)


def cross_entropy_sum(Z2: np.ndarray, Y: np.ndarray) -> float:
    """Sum over examples of the cross-entropy from the logits: log(1 + e^z) - y z, finite
    for any z. Solvers that see the examples in blocks add these sums up."""
    return float(np.sum(np.logaddexp(0, Z2) - Y * Z2))


def cost_from_logits(Z2: np.ndarray, Y: np.ndarray) -> float:
    """The same cross-entropy as `compute_cost`, from the logits: the mean of the above."""
    return cross_entropy_sum(Z2, Y) / Y.shape[1]


def gradient_sums(W2: np.ndarray, A1: np.ndarray, dZ2: np.ndarray,
                  rows: np.ndarray | None = None) -> Parameters:
    """The backward pass, summed (not yet averaged) over k examples: the one place it is written.

    From the output error dZ2 = A2 - Y (1, k), the hidden activations A1 (h, k) and W2 (1, h):
    {"dW2" (1, h), "db2" (1, 1), "dZ1" (h, k), "db1" (h, 1)} and, when the inputs are given as
    rows (k, n_x), "dW1" (h, n_x). Solvers that never form dW1 (the Gram solver) use dZ1.
    """
    # Sums over the examples are NumPy's (the order fixed by its code), not the BLAS's.
    dZ1 = (W2.T * dZ2) * (1 - A1 * A1)                  # tanh'(Z1) = 1 - A1^2
    sums = {
        "dW2": np.sum(A1 * dZ2, axis=1)[None, :],
        "db2": np.sum(dZ2, axis=1, keepdims=True),
        "dZ1": dZ1,
        "db1": np.sum(dZ1, axis=1, keepdims=True),
    }
    if rows is not None:
        sums["dW1"] = dZ1 @ rows
    return sums


def backward_propagation(parameters: Parameters, cache: dict[str, np.ndarray],
                         X: np.ndarray, Y: np.ndarray) -> Parameters:
    """Gradients of the mean cross-entropy: {"dW1", "db1", "dW2", "db2"}, shaped like the parameters."""
    m = X.shape[1]
    sums = gradient_sums(parameters["W2"], cache["A1"], cache["A2"] - Y, X.T)
    return {name: sums[name] / m for name in ("dW1", "db1", "dW2", "db2")}


def update_parameters(parameters: Parameters, grads: Parameters,
                      learning_rate: float = 0.1) -> Parameters:
    """One gradient-descent step: theta <- theta - learning_rate * d_theta (a new dict)."""
    lr = np.asarray(learning_rate, dtype=next(iter(parameters.values())).dtype)
    return {name: value - lr * grads["d" + name] for name, value in parameters.items()}


def predict_proba(parameters: Parameters, X: np.ndarray) -> np.ndarray:
    """Probability of dog for each column of X: (1, m)."""
    return forward_propagation(X, parameters)[0]


def predict(parameters: Parameters, X: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """0/1 predictions (1, m): dog where the probability exceeds `threshold`."""
    return (predict_proba(parameters, X) > threshold).astype(np.uint8)
