"""Print the md5 of the output of NumPy operations on fixed pseudo-random inputs, one line each.

Run by scripts/cross_check.sh under each interpreter (native, emulated aarch64, emulated older
x86); the lines of two machines are compared. The inputs come from NumPy's PCG64 generator,
whose integers and floats are the same bits on every platform, so only the operations can
differ. Needs nothing but NumPy.
"""
from __future__ import annotations

import hashlib
import sys
from typing import Callable

import numpy as np

N = 100_000


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.md5()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def inputs(dtype: type, low: float, high: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, N).astype(dtype)


def integer_matrices(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer-valued float64 factors whose product's every partial sum is below 2**53: exact
    whatever the order in which a BLAS adds."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-1000, 1001, size=(300, 400)).astype(np.float64)
    b = rng.integers(0, 256, size=(400, 200)).astype(np.float64)
    return a, b


def float_matrices(dtype: type, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((300, 400)).astype(dtype),
            rng.standard_normal((400, 200)).astype(dtype))


def probes() -> dict[str, Callable[[], str]]:
    cases: dict[str, Callable[[], str]] = {}
    for dtype in (np.float32, np.float64):
        name = np.dtype(dtype).name
        wide = inputs(dtype, -10, 10, 1)
        positive = inputs(dtype, 1e-6, 1e6, 2)
        cases.update({
            f"tanh {name}": lambda x=wide: digest(np.tanh(x)),
            f"exp {name}": lambda x=inputs(dtype, -80, 80, 3): digest(np.exp(x)),
            f"log {name}": lambda x=positive: digest(np.log(x)),
            f"log1p {name}": lambda x=inputs(dtype, -0.99, 100, 4): digest(np.log1p(x)),
            f"sqrt {name}": lambda x=positive: digest(np.sqrt(x)),
            f"rint {name}": lambda x=wide: digest(np.rint(x * 1000)),
            f"ldexp {name}": lambda x=wide: digest(np.ldexp(x, np.arange(N, dtype=np.int32) % 41 - 20)),
            f"frexp {name}": lambda x=positive: digest(*np.frexp(x)),
            f"add.reduce (10, 10000) axis=-1 {name}":
                lambda x=wide: digest(np.add.reduce(x.reshape(10, N // 10), axis=-1)),
            f"add.reduce 1-D {name}": lambda x=wide: digest(np.add.reduce(x)),
            # Not promised anywhere: shows whether the BLAS kernels agree on float products.
            f"matmul random {name} (informative)": lambda d=dtype: digest(np.matmul(*float_matrices(d, 5))),
        })
    cases["matmul integer-valued float64 (must be exact)"] = lambda: digest(np.matmul(*integer_matrices(6)))
    return cases


def main() -> None:
    for name, run in probes().items():
        print(f"{name}\t{run()}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
