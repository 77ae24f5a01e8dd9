"""A trained network together with what is needed to use it on new photos."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from catdog.features import PIXEL_SCALE, flatten
from catdog.images import CHANNEL_ORDER, LABEL_NAMES
from catdog.network import Parameters, predict_proba
from catdog.storage import load_npz, save_npz

PARAMETER_NAMES = ("W1", "b1", "W2", "b2")


@dataclass
class Model:
    parameters: Parameters
    image_size: int
    channel_order: str = CHANNEL_ORDER
    label_names: tuple[str, ...] = LABEL_NAMES
    pixel_scale: float = PIXEL_SCALE  # X = pixels * pixel_scale

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """Probability of the second label (dog) for each column of X (n_x, m): shape (m,)."""
        return predict_proba(self.parameters, X.astype(self.parameters["W1"].dtype, copy=False))[0]

    def probabilities_of_images(self, images: np.ndarray) -> np.ndarray:
        """(m, s, s, 3) uint8 BGR photos -> probability of dog (m,), laid out as in training."""
        X, _ = flatten(images, np.zeros(len(images)))
        return self.probabilities(X)


def save_model(path: str | os.PathLike, model: Model) -> None:
    save_npz(
        path,
        **model.parameters,
        image_size=np.array(model.image_size),
        channel_order=np.array(model.channel_order),
        label_names=np.array(model.label_names),
        pixel_scale=np.array(model.pixel_scale),
    )


def load_model(path: str | os.PathLike) -> Model:
    arrays = load_npz(path)
    missing = [k for k in (*PARAMETER_NAMES, "image_size") if k not in arrays]
    if missing:
        raise ValueError(f"{path}: not a catdog model (missing {', '.join(missing)})")
    return Model(
        parameters={k: arrays[k] for k in PARAMETER_NAMES},
        image_size=int(arrays["image_size"]),
        channel_order=str(arrays["channel_order"]),
        label_names=tuple(str(s) for s in arrays["label_names"]),
        pixel_scale=float(arrays["pixel_scale"]),
    )
