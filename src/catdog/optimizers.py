"""Update rules and learning-rate schedules.

An optimizer turns the gradients of one step into new parameters. Gradient descent is the
tutorial's rule (`network.update_parameters`); momentum and Adam keep running averages of the
gradients, written as in the same course (exponentially weighted averages, bias-corrected for
Adam). Every optimizer works on parameter dicts {"W1", "b1", "W2", "b2"} and gradient dicts
{"dW1", ...} of any shapes and returns a new dict. Their arithmetic is elementwise, so it can be
shared out to threads by blocks of rows without changing a bit.
"""
from __future__ import annotations

import math
from typing import Callable, Protocol

import numpy as np

from catdog.network import Parameters
from catdog.parallel import Workers, by_rows

OPTIMIZERS = ("gd", "momentum", "adam")
SCHEDULES = ("constant", "step", "cosine")


class Optimizer(Protocol):
    def update(self, parameters: Parameters, grads: Parameters, learning_rate: float,
               workers: Workers | None = None) -> Parameters:
        """The parameters after one step against `grads` (new arrays); with `workers`, the
        elementwise work is shared out to their threads by blocks of rows."""


def _step(parameters: Parameters, grads: Parameters, learning_rate: float,
          workers: Workers | None, direction: Callable[[str, slice], np.ndarray]) -> Parameters:
    """theta - lr * direction for each parameter theta, block of rows by block of rows;
    `direction(name, rows)` gives those rows of the step before the learning rate."""
    lr = np.asarray(learning_rate, dtype=parameters["W1"].dtype)
    new = {}
    for name, theta in parameters.items():
        out = np.empty_like(theta)

        def rows(part: slice, name: str = name, theta: np.ndarray = theta,
                 out: np.ndarray = out) -> None:
            np.subtract(theta[part], lr * direction(name, part), out=out[part])
        by_rows(workers, theta.shape, rows)
        new[name] = out
    return new


class GradientDescent:
    """theta <- theta - lr * d_theta (`network.update_parameters`, by blocks of rows)."""

    def update(self, parameters: Parameters, grads: Parameters, learning_rate: float,
               workers: Workers | None = None) -> Parameters:
        return _step(parameters, grads, learning_rate, workers,
                     lambda name, part: grads["d" + name][part])


class Momentum:
    """v <- beta v + (1 - beta) d_theta;  theta <- theta - lr v  (v starts at 0)."""

    def __init__(self, beta: float = 0.9):
        self.beta, self.v = beta, None

    def update(self, parameters: Parameters, grads: Parameters, learning_rate: float,
               workers: Workers | None = None) -> Parameters:
        if self.v is None:
            self.v = {k: np.zeros_like(g) for k, g in grads.items()}
        dtype = parameters["W1"].dtype.type
        beta = dtype(self.beta)

        def direction(name: str, part: slice) -> np.ndarray:
            # In place, operation for operation beta v + (1 - beta) g: the same roundings.
            v, term = self.v["d" + name][part], (1 - beta) * grads["d" + name][part]
            v *= beta
            v += term
            return v
        return _step(parameters, grads, learning_rate, workers, direction)


class Adam:
    """Bias-corrected running means of the gradient (v) and of its square (s):

    v <- b1 v + (1 - b1) g;  s <- b2 s + (1 - b2) g^2;  t <- t + 1
    theta <- theta - lr (v / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps)
    """

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.t, self.v, self.s = 0, None, None
        self.beta1_t, self.beta2_t = 1.0, 1.0  # beta^t by products: pow() differs by C library

    def update(self, parameters: Parameters, grads: Parameters, learning_rate: float,
               workers: Workers | None = None) -> Parameters:
        if self.v is None:
            self.v = {k: np.zeros_like(g) for k, g in grads.items()}
            self.s = {k: np.zeros_like(g) for k, g in grads.items()}
        dtype = parameters["W1"].dtype.type
        b1, b2, eps = dtype(self.beta1), dtype(self.beta2), dtype(self.eps)
        self.t += 1
        self.beta1_t *= self.beta1
        self.beta2_t *= self.beta2
        c1 = dtype(1 - self.beta1_t)
        c2 = dtype(1 - self.beta2_t)

        def direction(name: str, part: slice) -> np.ndarray:
            # In place, operation for operation the formulas above (the same roundings, so the
            # same bits): the running means are this optimizer's own arrays.
            key = "d" + name
            g, v, s = grads[key][part], self.v[key][part], self.s[key][part]
            term = (1 - b1) * g
            v *= b1
            v += term                               # b1 v + (1 - b1) g
            np.multiply(g, g, out=term)
            term *= 1 - b2
            s *= b2
            s += term                               # b2 s + (1 - b2) g^2
            np.divide(s, c2, out=term)
            np.sqrt(term, out=term)
            term += eps
            step = v / c1
            step /= term                            # (v / c1) / (sqrt(s / c2) + eps)
            return step
        return _step(parameters, grads, learning_rate, workers, direction)


def make_optimizer(name: str, beta1: float = 0.9, beta2: float = 0.999) -> Optimizer:
    if name == "gd":
        return GradientDescent()
    if name == "momentum":
        return Momentum(beta1)
    if name == "adam":
        return Adam(beta1, beta2)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")


def cos_pi(x: float) -> float:
    """cos(pi x) for x in [0, 1] from its Taylor series in plain float arithmetic, the same
    bits on every machine (the C library's cos is not)."""
    if x > 0.5:
        return -cos_pi(1.0 - x)               # 1 - x is exact here
    angle = math.pi * x                       # |pi x| <= pi / 2: 14 terms reach float precision
    t2 = angle * angle
    total, term = 1.0, 1.0
    for n in range(1, 15):
        term *= -t2 / ((2 * n - 1) * (2 * n))
        total += term
    return total


def learning_rate_at(epoch: int, epochs: int, base: float, schedule: str = "constant",
                     step_every: int = 1, step_factor: float = 0.1) -> float:
    """The learning rate of epoch `epoch` (from 0) out of `epochs`.

    constant: base. step: base * step_factor ** (epoch // step_every). cosine: from base down
    towards 0 along half a cosine, base * (1 + cos(pi * epoch / epochs)) / 2.
    """
    if schedule == "constant":
        return base
    if schedule == "step":
        rate = base
        for _ in range(epoch // step_every):  # products, not pow(): the same bits everywhere
            rate *= step_factor
        return rate
    if schedule == "cosine":
        return base * (1 + cos_pi(epoch / epochs)) / 2
    raise ValueError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
