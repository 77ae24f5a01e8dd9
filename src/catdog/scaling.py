"""How pixels become the network's inputs: divided by 255 (the tutorial) or standardized.

Examples hold rows (m, n_x) and a divisor (255 for uint8 pixels, 1 for floats already in
[0, 1]); X = rows / divisor is the tutorial's input. Standardizing subtracts the training set's
mean of each input and divides by its standard deviation, both measured on X. The model file
keeps them, so evaluate and predict apply exactly what training applied.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catdog.features import Examples

SCALINGS = ("divide", "standardize")
STATS_ROWS = 1024  # rows per pass when summing: the int64 squares of a pass stay small


@dataclass(frozen=True)
class InputScaling:
    kind: str = "divide"
    mean: np.ndarray | None = None  # (n_x,) float64, on X = rows / divisor
    std: np.ndarray | None = None   # (n_x,) float64, never 0

    def apply(self, rows: np.ndarray, divisor: float, out: np.ndarray) -> np.ndarray:
        """rows (k, n_x) -> inputs (k, n_x) written into out[:k], in out's dtype.

        Dividing (not multiplying by 1/255) gives the same floats as `features.flatten`.
        """
        k = rows.shape[0]
        dtype = out.dtype.type
        out[:k] = rows                          # the values exactly, then one division each:
        np.divide(out[:k], dtype(divisor), out=out[:k])  # faster than a mixed-type divide
        if self.kind == "standardize":
            out[:k] -= self.mean.astype(out.dtype)
            out[:k] /= self.std.astype(out.dtype)
        return out[:k]

    def arrays(self) -> dict[str, np.ndarray]:
        """What the model file stores."""
        if self.kind == "divide":
            return {"input_scaling": np.array(self.kind)}
        return {"input_scaling": np.array(self.kind), "input_mean": self.mean,
                "input_std": self.std}


def fit_scaling(kind: str, examples: Examples) -> InputScaling:
    """The scaling `kind` with its statistics measured on `examples`.

    For uint8 pixels the sums are exact integers, so the statistics do not depend on the order
    of summation (nor on the thread count or the CPU).
    """
    if kind == "divide":
        return InputScaling()
    if kind != "standardize":
        raise ValueError(f"unknown input scaling {kind!r}; expected one of {', '.join(SCALINGS)}")
    rows, m = examples.rows, examples.m
    if rows.dtype == np.uint8:
        s1 = np.zeros(examples.n_x, np.int64)
        s2 = np.zeros(examples.n_x, np.int64)
        for start in range(0, m, STATS_ROWS):
            block = rows[start:start + STATS_ROWS].astype(np.int64)
            s1 += block.sum(axis=0)
            s2 += (block * block).sum(axis=0)
        # m * s2 - s1^2 is an exact integer: m times the sum of squared deviations.
        mean = s1 / (m * examples.divisor)
        var = (m * s2 - s1 * s1) / (float(m) * m * examples.divisor ** 2)
    else:
        X = np.asarray(rows, np.float64) / examples.divisor
        mean, var = X.mean(axis=0), X.var(axis=0)
    std = np.sqrt(np.maximum(var, 0.0))
    std[std < 1e-6] = 1.0  # an input that never changes: leave its spread alone
    return InputScaling("standardize", mean.astype(np.float64), std.astype(np.float64))


def scaling_from_arrays(arrays: dict[str, np.ndarray], n_x: int, source: str) -> InputScaling:
    """The scaling a model file describes; ValueError if it cannot be applied."""
    kind = str(arrays.get("input_scaling", "divide"))
    if kind == "divide":
        return InputScaling()
    if kind != "standardize":
        raise ValueError(f"{source}: unknown input scaling {kind!r} (this version knows "
                         f"{', '.join(SCALINGS)})")
    mean, std = arrays.get("input_mean"), arrays.get("input_std")
    for name, value in (("input_mean", mean), ("input_std", std)):
        if value is None or value.shape != (n_x,) or not np.issubdtype(value.dtype, np.floating):
            raise ValueError(f"{source}: {name} must be {n_x} floats for standardized inputs")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{source}: {name} holds non-finite values")
    if np.any(std <= 0):
        raise ValueError(f"{source}: input_std must be positive")
    return InputScaling("standardize", mean.astype(np.float64), std.astype(np.float64))
