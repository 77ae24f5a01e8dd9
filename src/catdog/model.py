"""A trained network together with what is needed to use it on new photos.

The model file (`models/model.npz`, plain arrays, never pickles) holds the weights, the photo
size and channel order, the label names and the input scaling the weights were trained with
(for standardized inputs, the training set's mean and standard deviation). Evaluate and
predict call the model, which applies exactly that preprocessing.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from catdog.errors import CatdogError
from catdog.features import CHANNEL_ORDER, PIXEL_MAX, PIXEL_SCALE, Examples
from catdog.labels import LABEL_NAMES
from catdog import exact as ex
from catdog.forward import CHUNK, Inputs, forward_logits
from catdog.memory import format_bytes, machine_memory
from catdog.network import Parameters
from catdog.parallel import Workers, blas_threads, resolve_threads
from catdog.scaling import InputScaling, scaling_from_arrays
from catdog.storage import DAMAGE, damaged, save_npz

PARAMETER_NAMES = ("W1", "b1", "W2", "b2")
# Every array a model file may hold that is used; anything else in the file is never read.
MODEL_KEYS = (*PARAMETER_NAMES, "image_size", "channel_order", "label_names", "pixel_scale",
              "input_scaling", "input_mean", "input_std")
BATCH = 256  # photos per forward pass when classifying (catdog.predict)
# Photos held at once while classifying, per input: a batch of uint8 photos and its mirror
# images (predict), and each thread's float64 chunk of the forward pass.
PHOTOS_HELD = 2 * BATCH
FORWARD_THREADS = 0  # one per core; the probabilities do not depend on it


class ModelError(CatdogError):
    """A model file that cannot be used: unreadable, incomplete, malformed or not finite."""


@dataclass
class Model:
    parameters: Parameters
    image_size: int
    scaling: InputScaling = field(default_factory=InputScaling)
    channel_order: str = CHANNEL_ORDER
    label_names: tuple[str, ...] = LABEL_NAMES
    pixel_scale: float = PIXEL_SCALE  # X = pixels * pixel_scale, before `scaling`'s statistics

    def probabilities(self, X: np.ndarray | Examples) -> np.ndarray:
        """Probability of the second label (dog) for each example: shape (m,).

        X is the network's layout (n_x, m): uint8 pixels, or floats already divided by 255
        (the tutorial's X); or `Examples`. The model's input scaling is applied to it.
        """
        if isinstance(X, Examples):
            examples = X
        elif X.dtype == np.uint8:
            examples = Examples(X.T, PIXEL_MAX)
        else:
            examples = Examples.from_columns(X)
        dtype = self.parameters["W1"].dtype
        workers = Workers(FORWARD_THREADS)
        try:
            with blas_threads(1):  # chunks of fixed size, as in training: same bits any core count
                Z2 = forward_logits(self.parameters, Inputs(examples, self.scaling, dtype, exact=True),
                                    workers)
        finally:
            workers.close()
        return ex.sigmoid(Z2)[0]

    def probabilities_of_images(self, images: np.ndarray, flip_average: bool = False) -> np.ndarray:
        """(m, s, s, 3) uint8 BGR photos -> probability of dog (m,), laid out as in training.

        With `flip_average`, the mean of each photo's probability and its mirror image's
        (test-time augmentation matching training's random horizontal flips).
        """
        p = self.probabilities(Examples(images.reshape(len(images), -1), PIXEL_MAX))
        if flip_average:
            mirrored = np.ascontiguousarray(images[:, :, ::-1])
            p = (p + self.probabilities(Examples(mirrored.reshape(len(images), -1), PIXEL_MAX))) / 2
        return p


def save_model(path: str | os.PathLike, model: Model) -> None:
    save_npz(
        path,
        **model.parameters,
        image_size=np.array(model.image_size),
        channel_order=np.array(model.channel_order),
        label_names=np.array(model.label_names),
        pixel_scale=np.array(model.pixel_scale),
        **model.scaling.arrays(),
    )


def load_model(path: str | os.PathLike) -> Model:
    """Read a model file; ModelError (one line, naming the file) if it cannot be used."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = _read_arrays(npz, str(path))
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except ModelError:
        raise
    except Exception as exc:  # zip, npy-header and pickle refusals all mean: not a model file
        if isinstance(exc, DAMAGE):  # bytes changed or cut short: say how to rebuild it
            exc = damaged(path, exc)
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ModelError(f"{path}: not a readable catdog model file ({reason})") from None
    try:
        return _model_from(arrays, str(path))
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelError(" ".join(str(exc).split())) from None


def _declared(npz, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype an array's header declares, read without its data."""
    with npz.zip.open(f"{key}.npy") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"{key}: unsupported array format version {version}")
    return shape, dtype


def _read_arrays(npz, source: str) -> dict[str, np.ndarray]:
    """The arrays of MODEL_KEYS, after checking from their headers that the network they
    describe fits in this machine's memory, so a file declaring a huge array is refused
    before anything is allocated. Other arrays in the file are never read."""
    present = [key for key in MODEL_KEYS if key in npz.files]
    declared = {key: _declared(npz, key) for key in present}
    if "image_size" in declared:
        if declared["image_size"][0] != () or not np.issubdtype(declared["image_size"][1], np.integer):
            raise ModelError(f"{source}: image_size must be one whole number")
        image_size = int(npz["image_size"])
        if image_size < 1:
            raise ModelError(f"{source}: image_size {image_size} is impossible (photos are "
                             f"resized to image_size x image_size pixels, at least 1)")
        n_x = 3 * image_size * image_size
    else:
        n_x = 0
    held = sum(math.prod(shape) * dtype.itemsize for shape, dtype in declared.values())
    threads = resolve_threads(FORWARD_THREADS)
    need = held + n_x * (PHOTOS_HELD + 8 * CHUNK * threads)
    memory = machine_memory()
    if need > memory:
        w1 = declared.get("W1", ((), None))[0]
        what = f" (W1 {' x '.join(map(str, w1))})" if w1 else ""
        raise ModelError(f"{source}: the model needs {format_bytes(need)} of memory to "
                         f"use{what}, more than this machine's {format_bytes(memory)}")
    return {key: npz[key] for key in present}


def _model_from(arrays: dict[str, np.ndarray], source: str) -> Model:
    missing = [k for k in (*PARAMETER_NAMES, "image_size") if k not in arrays]
    if missing:
        raise ValueError(f"{source}: not a catdog model (missing {', '.join(missing)})")
    image_size = int(arrays["image_size"])
    n_x = 3 * image_size * image_size
    W1 = arrays["W1"]
    if W1.ndim != 2 or W1.shape[1] != n_x or W1.shape[0] < 1:
        raise ValueError(f"{source}: W1 has shape {W1.shape}, expected (hidden units, {n_x}) "
                         f"for {image_size}x{image_size} colour photos")
    h = W1.shape[0]
    expected = {"W1": (h, n_x), "b1": (h, 1), "W2": (1, h), "b2": (1, 1)}
    parameters = {}
    for name, shape in expected.items():
        value = arrays[name]
        if value.shape != shape:
            raise ValueError(f"{source}: {name} has shape {value.shape}, expected {shape}")
        if value.dtype not in (np.float32, np.float64) or value.dtype != W1.dtype:
            raise ValueError(f"{source}: {name} must be float32 or float64 like W1, "
                             f"not {value.dtype}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{source}: {name} holds non-finite values (NaN or infinity); "
                             f"retrain the model")
        parameters[name] = value
    channel_order = str(arrays.get("channel_order", CHANNEL_ORDER))
    if channel_order != CHANNEL_ORDER:
        raise ValueError(f"{source}: channel order {channel_order!r} cannot be applied "
                         f"(photos are read as {CHANNEL_ORDER})")
    pixel_scale = float(arrays.get("pixel_scale", PIXEL_SCALE))
    if not np.isclose(pixel_scale, PIXEL_SCALE, rtol=1e-12, atol=0):
        raise ValueError(f"{source}: pixel scale {pixel_scale} cannot be applied "
                         f"(this version divides pixels by {PIXEL_MAX})")
    names = np.asarray(arrays.get("label_names", np.array(LABEL_NAMES)))
    if names.ndim != 1:
        raise ValueError(f"{source}: label names must be a list of two names, got {names!r}")
    label_names = tuple(str(s) for s in names)
    if len(label_names) != 2:
        raise ValueError(f"{source}: expected two label names, got {len(label_names)}")
    return Model(parameters, image_size, scaling_from_arrays(arrays, n_x, source),
                 channel_order, label_names, pixel_scale)
