"""The one place where params.yaml is read and checked.

The file is parsed exactly as DVC parses it (ruamel.yaml's safe loader, YAML 1.2), so every
value DVC records in dvc.lock and shows in `dvc exp show` is the value the stages use:
`hidden_size: 012` is 12 and `learning_rate: 1e-05` is a number, for both.

The `check_params` stage, which every other stage depends on, calls `load_params()` on the
whole file whenever it changes, so a bad value stops `dvc repro` before DVC removes any
stage's outputs. Each stage calls it again before doing any work, for runs outside DVC.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError

from catdog.errors import CatdogError
from catdog.memory import format_bytes, machine_memory

DTYPES = ("float32", "float64")
SOLVERS = ("auto", "gram", "blocked", "direct")  # see catdog.solvers
OPTIMIZERS = ("gd", "momentum", "adam")          # see catdog.optimizers
SCHEDULES = ("constant", "step", "cosine")
INITS = ("tutorial", "xavier")                   # see catdog.network
SCALINGS = ("divide", "standardize")             # see catdog.scaling
SEED_MAX = 2**32 - 1  # numpy's RandomState takes seeds in [0, 2**32)


class ParamsError(CatdogError, ValueError):
    """A value in params.yaml is missing, of the wrong type or out of range."""


@dataclass(frozen=True)
class DemoParams:
    """The synthetic demo set that the `demo` stage draws."""

    out_dir: str
    n_images: int
    seed: int


@dataclass(frozen=True)
class DataParams:
    """Where the photos are and how ingest turns them into arrays."""

    train_dir: str     # a folder, or a .zip, .tar, .tar.gz or .tgz archive
    test_dir: str      # the same, or the same path as train_dir: split it by test_fraction
    test_fraction: float
    split_seed: int
    image_size: int
    workers: int       # decoding threads; 0 = one per core. Outputs do not depend on it.
    fast_decode: bool  # let the JPEG decoder scale down first: faster, slightly other pixels
    max_file_mb: int   # larger files and archive members are skipped unread
    max_pixels: int    # images whose header declares more pixels are skipped undecoded

    @property
    def split_train(self) -> bool:
        """True when the test photos are a seeded share of train_dir's."""
        return os.path.normpath(self.test_dir) == os.path.normpath(self.train_dir)


@dataclass(frozen=True)
class TrainParams:
    """How the network is trained; every default is the tutorial's choice."""

    hidden_size: int
    learning_rate: float
    iterations: int  # epochs: passes over the training set (full-batch steps with batch_size 0)
    seed: int
    dtype: str
    cost_every: int
    eval_every: int  # record train, validation and test metrics every this many iterations
    solver: str   # how full-batch steps run; "auto" picks the fastest for the shapes
    threads: int  # 0 = one per core; the results do not depend on it
    batch_size: int        # 0 = the whole training set (the tutorial)
    optimizer: str         # gd, momentum or adam
    beta1: float           # momentum's (and Adam's first) averaging factor
    beta2: float           # Adam's second averaging factor
    lr_schedule: str       # constant, step or cosine
    lr_step_every: int     # step schedule: epochs between decays
    lr_step_factor: float  # step schedule: factor of each decay
    weight_decay: float    # L2 penalty on W1 and W2
    init: str              # tutorial (randn * 0.01) or xavier
    input_scaling: str     # divide (pixels / 255) or standardize
    augment_flip: bool     # random horizontal flips
    augment_shift: int     # random shifts of up to this many pixels
    validation_fraction: float  # share of the training photos held out; 0 = none
    patience: int          # stop after this many records without a better validation loss
    exact: bool            # exact products and own elementwise functions: the same bits everywhere


def check_train(t: TrainParams) -> None:
    """Range checks of the train section."""
    _check(t.hidden_size >= 1, f"train.hidden_size must be at least 1, got {t.hidden_size}")
    _check(t.learning_rate > 0, f"train.learning_rate must be greater than 0, got {t.learning_rate}")
    _check(t.iterations >= 1, f"train.iterations must be at least 1, got {t.iterations}")
    _check(t.dtype in DTYPES,
           f"train.dtype must be one of {', '.join(DTYPES)}, got {t.dtype!r}")
    _check(t.solver in SOLVERS,
           f"train.solver must be one of {', '.join(SOLVERS)}, got {t.solver!r}")
    _check(t.threads >= 0, f"train.threads must be 0 (one per core) or more, got {t.threads}")
    _check(t.eval_every >= 1, f"train.eval_every must be at least 1, got {t.eval_every}")
    _check(t.cost_every >= 1, f"train.cost_every must be at least 1, got {t.cost_every}")
    _check_seed("train.seed", t.seed)
    _check(t.batch_size >= 0,
           f"train.batch_size must be 0 (the whole set) or more, got {t.batch_size}")
    for key, allowed in (("optimizer", OPTIMIZERS), ("lr_schedule", SCHEDULES),
                         ("init", INITS), ("input_scaling", SCALINGS)):
        value = getattr(t, key)
        _check(value in allowed, f"train.{key} must be one of {', '.join(allowed)}, got {value!r}")
    for key in ("beta1", "beta2"):
        value = getattr(t, key)
        _check(0 <= value < 1, f"train.{key} must be in [0, 1), got {value}")
    _check(t.lr_step_every >= 1, f"train.lr_step_every must be at least 1, got {t.lr_step_every}")
    _check(0 < t.lr_step_factor <= 1,
           f"train.lr_step_factor must be in (0, 1], got {t.lr_step_factor}")
    _check(t.weight_decay >= 0, f"train.weight_decay must be 0 or more, got {t.weight_decay}")
    _check(0 <= t.augment_shift <= 8,
           f"train.augment_shift must be in 0 .. 8 (pixels), got {t.augment_shift}")
    _check(0 <= t.validation_fraction < 1,
           f"train.validation_fraction must be in [0, 1), got {t.validation_fraction}")
    _check(t.patience >= 0,
           f"train.patience must be 0 (never stop early) or more, got {t.patience}")
    plain = (t.batch_size == 0 and t.optimizer == "gd" and t.weight_decay == 0
             and not t.augment_flip and t.augment_shift == 0)
    _check(plain or t.solver in ("auto", "blocked"),
           f"train.solver {t.solver!r} runs full-batch gradient descent only; with batch_size, "
           f"optimizer, weight_decay or augmentation set, use auto or blocked")


@dataclass(frozen=True)
class EvaluateParams:
    threshold: float
    flip_average: bool  # average each photo's probability with its mirror image's (evaluate, predict)


@dataclass(frozen=True)
class PredictParams:
    """What the `predict` stage classifies."""

    photos: str  # a folder, photo file or .zip/.tar/.tar.gz/.tgz archive; labels not needed


@dataclass(frozen=True)
class Params:
    demo: DemoParams
    data: DataParams
    train: TrainParams
    evaluate: EvaluateParams
    predict: PredictParams


def _section(raw: dict[str, Any], name: str, cls: type) -> Any:
    section = raw.get(name)
    if not isinstance(section, dict):
        raise ParamsError(f"params.yaml: section '{name}' is missing or not a mapping")
    wanted = {f.name: f.type for f in fields(cls)}
    unknown = sorted(set(section) - set(wanted))
    if unknown:
        raise ParamsError(
            f"params.yaml: unknown key(s) {', '.join(f'{name}.{k}' for k in unknown)}; "
            f"allowed in '{name}': {', '.join(wanted)}"
        )
    values = {}
    for key, type_name in wanted.items():
        full = f"{name}.{key}"
        if key not in section:
            raise ParamsError(f"params.yaml: missing key {full}")
        values[key] = _coerce(full, section[key], type_name)
    return cls(**values)


def _coerce(full: str, value: Any, type_name: str) -> Any:
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"{full} must be a whole number, got {value!r}")
        return value
    if type_name == "bool":
        if not isinstance(value, bool):
            raise ParamsError(f"{full} must be true or false, got {value!r}")
        return value
    if type_name == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamsError(f"{full} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ParamsError(f"{full} must be a finite number, got {value!r}")
        return float(value)
    if type_name == "str":
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ParamsError(f"{full} must be a string, got {value!r}")
        return value
    raise AssertionError(type_name)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ParamsError(message)


def _check_seed(key: str, seed: int) -> None:
    _check(0 <= seed <= SEED_MAX, f"{key} must be between 0 and {SEED_MAX} (2**32 - 1), got {seed}")


def validate(params: Params) -> Params:
    """Range checks; folders are checked by `require_folders` when they are about to be read."""
    d, t, e, g = params.data, params.train, params.evaluate, params.demo
    _check(d.train_dir != "", "data.train_dir must name a folder or archive of photos")
    _check(d.test_dir != "", "data.test_dir must name a folder or archive of test photos, or "
                             "the same path as data.train_dir to keep a share of it for testing")
    # A test set left at the demo photos after train_dir moved to real ones would silently
    # score real training on cartoons. (A train_dir that does not exist is reported first.)
    _check(not (d.test_dir == g.out_dir and not d.split_train and Path(d.train_dir).exists()),
           f"data.test_dir still names the synthetic demo photos ({g.out_dir}) while "
           f"data.train_dir is {d.train_dir!r}: set data.test_dir to your test photos, or to "
           f"{d.train_dir!r} to keep a share of them for testing")
    _check(d.max_file_mb >= 1, f"data.max_file_mb must be at least 1, got {d.max_file_mb}")
    _check(d.max_pixels >= d.image_size ** 2,
           f"data.max_pixels must be at least data.image_size squared, got {d.max_pixels}")
    _check(0.0 < d.test_fraction < 1.0,
           f"data.test_fraction must be in the open interval (0, 1), got {d.test_fraction}")
    _check(d.image_size >= 8, f"data.image_size must be at least 8 (pixels), got {d.image_size}")
    check_train(t)
    _check(d.workers >= 0, f"data.workers must be 0 (one per core) or more, got {d.workers}")
    _check_seed("data.split_seed", d.split_seed)
    _check(0.0 < e.threshold < 1.0,
           f"evaluate.threshold must be in the open interval (0, 1), got {e.threshold}")
    _check(params.predict.photos != "",
           "predict.photos must name a folder, photo or archive of photos to classify")
    _check(g.n_images >= 2, f"demo.n_images must be at least 2, got {g.n_images}")
    _check_seed("demo.seed", g.seed)
    _check(g.out_dir != "", "demo.out_dir must name a folder")
    _check_memory(params)
    return params


# Copies of W1 alive at once while training: the float64 draw of the initial weights, the
# weights and their gradient. Fewer than the real peak, so the check never refuses a run that fits.
_WEIGHT_COPIES = 3


def _check_memory(params: Params) -> None:
    """Refuse sizes whose arrays cannot fit in this machine's memory, naming the key, instead
    of failing with MemoryError deep inside a stage."""
    memory = machine_memory()
    size = params.data.image_size
    n_x = 3 * size * size
    # One photo as uint8 pixels plus its float32 inputs, for the two photos training needs.
    photos = 2 * n_x * (1 + 4)
    _check(photos <= memory,
           f"data.image_size {size} is too large: {size}x{size} photos need "
           f"{format_bytes(photos)} for just two of them, more than this machine's "
           f"{format_bytes(memory)} of memory")
    hidden = params.train.hidden_size
    weights = _WEIGHT_COPIES * 8 * hidden * n_x
    _check(weights <= memory,
           f"train.hidden_size {hidden} is too large for data.image_size {size}: the weights "
           f"W1 ({hidden} x {n_x}) need {format_bytes(weights)} while training, more than "
           f"this machine's {format_bytes(memory)} of memory")


SECTIONS = {f.name: f.type for f in fields(Params)}


def read_yaml(path: str | os.PathLike) -> Any:
    """The file's contents as DVC reads a params file (`dvc.utils.serialize.parse_yaml`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found (run from the project's top folder)") from None
    except UnicodeDecodeError as exc:
        raise ParamsError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return YAML(typ="safe").load(text)
    except YAMLError as exc:
        # ruamel's messages span several lines (with a source excerpt); one line is enough.
        raise ParamsError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None


def load_params(path: str | os.PathLike = "params.yaml") -> Params:
    """Read and validate the whole params file."""
    path = Path(path)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections")
    unknown = sorted(str(k) for k in raw if k not in SECTIONS)
    if unknown:
        raise ParamsError(f"{path}: unknown section(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(SECTIONS)}")
    return validate(Params(
        demo=_section(raw, "demo", DemoParams),
        data=_section(raw, "data", DataParams),
        train=_section(raw, "train", TrainParams),
        evaluate=_section(raw, "evaluate", EvaluateParams),
        predict=_section(raw, "predict", PredictParams),
    ))


def require_folders(data: DataParams) -> None:
    """Fail naming the key when a configured photo folder or archive does not exist."""
    for key in ("train_dir", "test_dir"):
        folder = getattr(data, key)
        if folder and not os.path.exists(folder):
            raise ParamsError(f"data.{key}: folder or archive {folder!r} does not exist")
