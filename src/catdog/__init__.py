"""catdog: a NumPy cat-vs-dog network run as a reproducible DVC pipeline.

The network's functions are importable from here (`from catdog import forward_propagation`).
They are loaded on first use, so importing another module (say `catdog.images`) does not
import the network, and DVC stages depend only on the modules they use.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "backward_propagation",
    "compute_cost",
    "forward_propagation",
    "initialize_parameters",
    "predict",
    "predict_proba",
    "sigmoid",
    "update_parameters",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("catdog.network"), name)
    raise AttributeError(f"module 'catdog' has no attribute {name!r}")
