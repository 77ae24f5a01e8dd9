"""The one place where params.yaml is read and checked.

The file is parsed exactly as DVC parses it (ruamel.yaml's safe loader, YAML 1.2), so every
value DVC records in dvc.lock and shows in `dvc exp show` is the value the stages use:
`hidden_size: 012` is 12 and `learning_rate: 1e-05` is a number, for both.

The `check_params` stage, which every other stage depends on, calls `load_params()` on the
whole file whenever a value changes, so a bad value stops `dvc repro` before DVC removes any
stage's outputs. Each stage calls it again before doing any work, for runs outside DVC.

Each setting is defined once, below: its type, default (the tutorial's choice), meaning and
check (`setting`). The sections are checked when they are made, so a `TrainParams` that exists
is valid; docs/training.md's table is made of them (`params_table`).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from ruamel.yaml import YAML, YAMLError

from catdog.errors import CatdogError
from catdog.labels import IMAGE_SUFFIXES, LABEL_NAMES, label_from_path
from catdog.memory import format_bytes, machine_memory
from catdog.split import held_out_count

DTYPES = ("float32", "float64")
SOLVERS = ("auto", "gram", "blocked", "direct")  # see catdog.solvers
OPTIMIZERS = ("gd", "momentum", "adam")          # see catdog.optimizers
SCHEDULES = ("constant", "step", "cosine")
INITS = ("tutorial", "xavier")                   # see catdog.network
SCALINGS = ("divide", "standardize")             # see catdog.scaling
ARITHMETICS = ("auto", "exact", "fast")          # see catdog.forward
SEED_MAX = 2**32 - 1  # numpy's RandomState takes seeds in [0, 2**32)
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")  # what data.*_dir may name besides a folder
# Trees whose files are not photos and may never end (/proc/kmsg) or block (/dev/tty):
# reading, or DVC hashing, a path inside them would hang.
SYSTEM_TREES = ("/proc", "/sys", "/dev")


def is_archive_name(path: str | os.PathLike) -> bool:
    return os.fspath(path).lower().endswith(ARCHIVE_SUFFIXES)


class ParamsError(CatdogError, ValueError):
    """A value in params.yaml is missing, of the wrong type or out of range."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ParamsError(message)


@dataclass(frozen=True)
class Rule:
    """What a setting's value must be: `holds(value)`, described as `must` ("at least 1")."""

    holds: Callable[[Any], bool]
    must: str

    def check(self, key: str, value: Any) -> None:
        shown = repr(value) if isinstance(value, str) else value
        _check(self.holds(value), f"{key} must be {self.must}, got {shown}")


def at_least(low: int, note: str | None = None) -> Rule:
    """`low` or more; described as "at least 1", or with a note as "0 (one per core) or more"."""
    return Rule(lambda v: v >= low, f"at least {low}" if note is None else f"{low}{note} or more")


def one_of(choices: tuple[str, ...]) -> Rule:
    return Rule(lambda v: v in choices, f"one of {', '.join(choices)}")


SEED_RULE = Rule(lambda v: 0 <= v <= SEED_MAX, f"between 0 and {SEED_MAX} (2**32 - 1)")
POSITIVE = Rule(lambda v: v > 0, "greater than 0")
_UNIT_RULE = Rule(lambda v: 0 <= v < 1, "in [0, 1)")


def setting(default: Any, meaning: str, rule: Rule | None = None, *,
            changes_results: bool = True) -> Any:
    """A field of a params section: its default (the tutorial's choice, what params.yaml
    holds), its meaning (docs/training.md's table is made of these), its check, and whether
    it can change a bit of the results (if not, no stage depends on it)."""
    return field(default=default, metadata={"meaning": meaning, "rule": rule,
                                            "changes_results": changes_results})


def result_keys(cls: type) -> list[str]:
    """The fields of a params section that can change a stage's results."""
    return [f.name for f in fields(cls) if f.metadata.get("changes_results", True)]


class Section:
    """A section of params.yaml: a frozen dataclass whose fields are `setting`s, each checked
    by its rule when the section is made."""

    name = ""

    def __init_subclass__(cls, name: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = name

    def __post_init__(self) -> None:
        for f in fields(self):
            rule = f.metadata.get("rule")
            if rule is not None:
                rule.check(f"{self.name}.{f.name}", getattr(self, f.name))

    @classmethod
    def table(cls) -> list[str]:
        """The section's rows of docs/training.md's table: key, default, meaning."""
        def shown(value: Any) -> str:
            if isinstance(value, bool):
                return str(value).lower()
            return f"`{value}`" if isinstance(value, str) else repr(value)
        return [f"| `{cls.name}.{f.name}` | {shown(f.default)} | {f.metadata['meaning']} |"
                for f in fields(cls)]


@dataclass(frozen=True)
class DemoParams(Section, name="demo"):
    """The synthetic demo set that the `demo` stage draws."""

    out_dir: str = setting("data/raw/demo", "where the synthetic set is written; replaced whole "
                                            "on each run, but only if the demo stage wrote it")
    n_images: int = setting(1000, "size of the synthetic set", at_least(2))
    seed: int = setting(0, "seed of the synthetic set", SEED_RULE)


@dataclass(frozen=True)
class DataParams(Section, name="data"):
    """Where the photos are and how ingest turns them into arrays."""

    train_dir: str = setting("data/raw/demo", "training photos: a folder (searched recursively) "
                                              "or a `.zip`, `.tar`, `.tar.gz`, `.tgz` archive")
    test_dir: str = setting("data/raw/demo", "test photos, the same kinds; the same path as "
                                             "`train_dir`: split `train_dir`")
    test_fraction: float = setting(0.2, "share of each class kept for testing when splitting",
                                   Rule(lambda v: 0 < v < 1, "in the open interval (0, 1)"))
    split_seed: int = setting(0, "seed of that split", SEED_RULE)
    image_size: int = setting(64, "photos are resized to this many pixels square (64 gives "
                                  "12288 inputs)", Rule(lambda v: v >= 8, "at least 8 (pixels)"))
    workers: int = setting(0, "decoding threads; 0 = one per core (the outputs do not depend on "
                              "it, nor does the stage)", at_least(0, " (one per core)"),
                           changes_results=False)
    fast_decode: bool = setting(False, "let JPEGs decode at reduced scale before the resize "
                                       "(faster, slightly other pixels)")
    max_file_mb: int = setting(100, "larger photo files and archive members are skipped "
                                    "without being read", at_least(1))
    max_pixels: int = setting(100_000_000, "photos whose header declares more pixels are "
                                           "skipped without being decoded")
    max_archive_gb: float = setting(20, "an archive that would decompress to more stops ingest "
                                        "([safety.md](safety.md))", POSITIVE)
    max_header_kb: int = setting(1024, "a tar long-name or PAX header declaring more stops "
                                       "ingest unread", at_least(1))
    max_member_seconds: float = setting(60, "an archive member taking longer to decompress "
                                            "stops ingest", POSITIVE)

    @property
    def split_train(self) -> bool:
        """True when the test photos are a seeded share of train_dir's."""
        return os.path.normpath(self.test_dir) == os.path.normpath(self.train_dir)


@dataclass(frozen=True)
class TrainParams(Section, name="train"):
    """How the network is trained. Each setting's default is the tutorial's choice; a
    TrainParams is checked when it is made, so one that exists is valid."""

    hidden_size: int = setting(10, "hidden units", at_least(1))
    learning_rate: float = setting(0.003, "step size (the start of the schedule)", POSITIVE)
    iterations: int = setting(4000, "epochs; with `batch_size` 0, full-batch steps", at_least(1))
    seed: int = setting(1, "seed of the initial weights", SEED_RULE)
    dtype: str = setting("float32", "arithmetic of training: `float32` or `float64`",
                         one_of(DTYPES))
    cost_every: int = setting(10, "record the cost every this many iterations (and at the last)",
                              at_least(1))
    eval_every: int = setting(50, "record train, validation and test metrics every this many "
                                  "iterations (and at the last)", at_least(1))
    solver: str = setting("auto", "`auto`, `gram`, `blocked` or `direct`: the same iterates, "
                                  "another speed (see above)", one_of(SOLVERS))
    threads: int = setting(0, "threads for training; 0 = one per core (the results do not "
                              "depend on it, nor does the stage)", at_least(0, " (one per core)"),
                           changes_results=False)
    batch_size: int = setting(0, "examples per step; 0 = the whole training set",
                              at_least(0, " (the whole set)"))
    optimizer: str = setting("gd", "`gd`, `momentum` or `adam`", one_of(OPTIMIZERS))
    beta1: float = setting(0.9, "momentum's averaging factor, and Adam's first", _UNIT_RULE)
    beta2: float = setting(0.999, "Adam's second averaging factor", _UNIT_RULE)
    lr_schedule: str = setting("constant", "`constant`, `step` (times `lr_step_factor` every "
                                           "`lr_step_every` epochs) or `cosine`", one_of(SCHEDULES))
    lr_step_every: int = setting(10, "the step schedule: epochs between decays", at_least(1))
    lr_step_factor: float = setting(0.5, "the step schedule: factor of each decay",
                                    Rule(lambda v: 0 < v <= 1, "in (0, 1]"))
    weight_decay: float = setting(0.0, "L2 penalty on W1 and W2", at_least(0, ""))
    init: str = setting("tutorial", "`tutorial` (randn × 0.01) or `xavier`", one_of(INITS))
    input_scaling: str = setting("divide", "`divide` (pixels / 255) or `standardize` (training "
                                           "mean and std, kept in the model)", one_of(SCALINGS))
    augment_flip: bool = setting(False, "random horizontal flips of training photos")
    augment_shift: int = setting(0, "random shifts of training photos by up to this many pixels",
                                 Rule(lambda v: 0 <= v <= 8, "in 0 .. 8 (pixels)"))
    # At most half: each class then keeps at least one training photo whatever its count.
    validation_fraction: float = setting(
        0.0, "share of training photos held out for validation (at most 0.5); 0 = none",
        Rule(lambda v: 0 <= v <= 0.5, "in [0, 0.5]"))
    patience: int = setting(0, "records without a better validation loss before stopping; "
                               "0 = never", at_least(0, " (never stop early)"))
    arithmetic: str = setting("auto", "`exact` (the same bits on every machine), `fast` (the "
                                      "BLAS's floats) or `auto` (exact up to 1024 training "
                                      "photos); see [Reproducibility](reproducibility.md)",
                              one_of(ARITHMETICS))

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.full_batch_gd() or self.solver in ("auto", "blocked"),
               f"train.solver {self.solver!r} runs full-batch gradient descent only; with "
               f"batch_size, optimizer, weight_decay or augmentation set, use auto or blocked")

    def full_batch_gd(self, m: int = 0) -> bool:
        """Whether the steps are the tutorial's, plain full-batch gradient descent: one step
        per epoch over the whole set (of `m` examples, when known), nothing added."""
        return ((self.batch_size == 0 or 0 < m <= self.batch_size) and self.optimizer == "gd"
                and self.weight_decay == 0 and not self.augment_flip and self.augment_shift == 0)


@dataclass(frozen=True)
class EvaluateParams(Section, name="evaluate"):
    """How probabilities become labels (evaluate and predict)."""

    threshold: float = setting(0.5, "probability above which a photo is called a dog",
                               Rule(lambda v: 0 < v < 1, "in the open interval (0, 1)"))
    flip_average: bool = setting(False, "average each photo's probability with its mirror "
                                        "image's")


@dataclass(frozen=True)
class PredictParams(Section, name="predict"):
    """What the `predict` stage classifies."""

    photos: str = setting("data/raw/demo", "a folder, photo file or `.zip`, `.tar`, `.tar.gz`, "
                                           "`.tgz` archive to classify; labels not needed")


@dataclass(frozen=True)
class Params:
    demo: DemoParams
    data: DataParams
    train: TrainParams
    evaluate: EvaluateParams
    predict: PredictParams


def _section(raw: dict[str, Any], cls: type[Section]) -> Any:
    name = cls.name
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


def validate(params: Params) -> Params:
    """Range checks, and the photo paths (`require_folders`); `check_data` looks inside them."""
    d, g = params.data, params.demo
    _check(d.train_dir != "", "data.train_dir must name a folder or archive of photos")
    _check(d.test_dir != "", "data.test_dir must name a folder or archive of test photos, or "
                             "the same path as data.train_dir to keep a share of it for testing")
    require_folders(d, g.out_dir)
    # A test set left at the demo photos after train_dir moved to real ones would silently
    # score real training on cartoons. (A train_dir that does not exist is reported first.)
    _check(not (d.test_dir == g.out_dir and not d.split_train and Path(d.train_dir).exists()),
           f"data.test_dir still names the synthetic demo photos ({g.out_dir}) while "
           f"data.train_dir is {d.train_dir!r}: set data.test_dir to your test photos, or to "
           f"{d.train_dir!r} to keep a share of them for testing")
    _check(d.max_pixels >= d.image_size ** 2,
           f"data.max_pixels must be at least data.image_size squared, got {d.max_pixels}")
    _check(params.predict.photos != "",
           "predict.photos must name a folder, photo or archive of photos to classify")
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
    d = params.data
    # Ingest holds a file's bytes (at most max_file_mb) and its decoded pixels (at most
    # max_pixels, up to 16-bit colour: 6 bytes each) at once.
    one_file = d.max_file_mb * (1 << 20) + 6 * d.max_pixels
    _check(one_file <= memory,
           f"data.max_file_mb {d.max_file_mb} and data.max_pixels {d.max_pixels} are too large: "
           f"one such photo needs {format_bytes(one_file)} to read and decode, more than this "
           f"machine's {format_bytes(memory)} of memory")


SECTIONS = {cls.name: cls for cls in (DemoParams, DataParams, TrainParams, EvaluateParams,
                                      PredictParams)}


def params_table() -> list[str]:
    """docs/training.md's table of every key: made of the settings themselves."""
    return [row for cls in SECTIONS.values() for row in cls.table()]


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
    params = validate(Params(**{name: _section(raw, cls) for name, cls in SECTIONS.items()}))
    check_data(params)
    return params


def _system_tree(path: str) -> str | None:
    """The system tree that `path` is, holds or lies in, if any."""
    real = os.path.realpath(path)
    if real == os.sep:
        return "/ (it holds /proc, /sys and /dev)"
    for tree in SYSTEM_TREES:
        if real == tree or real.startswith(tree + os.sep):
            return tree
    return None


def require_folders(data: DataParams, drawn: str = "") -> None:
    """Fail naming the key unless each photo path is a folder or a supported archive outside
    the system trees. `drawn`, the demo folder, may be absent: its stage draws it."""
    for key in ("train_dir", "test_dir"):
        path = getattr(data, key)
        tree = _system_tree(path)
        if tree:
            raise ParamsError(f"data.{key}: {path!r} is in the system tree {tree}, whose files "
                              f"are not photos (reading them may never end); name a folder or "
                              f"archive of photos")
        if os.path.isdir(path) or (drawn and os.path.normpath(path) == os.path.normpath(drawn)
                                   and not os.path.lexists(path)):
            continue
        if not os.path.lexists(path):
            raise ParamsError(f"data.{key}: {path!r} does not exist; name a folder of photos or "
                              f"a {', '.join(ARCHIVE_SUFFIXES)} archive")
        if not is_archive_name(path):
            raise ParamsError(f"data.{key}: {path!r} is a file, not a folder or a "
                              f"{', '.join(ARCHIVE_SUFFIXES)} archive of photos")
        if not os.path.isfile(path):
            raise ParamsError(f"data.{key}: {path!r} is not a regular file (a device, FIFO or "
                              f"broken link); name a folder or archive of photos")


def class_counts(path: str, demo: DemoParams) -> tuple[int, int] | None:
    """(cats, dogs) named like labelled photos under a folder or in a zip, or drawn as the
    demo; None for a tar, whose names cannot be listed without decompressing it. The
    photos ingest will keep are at most these (some may turn out unreadable)."""
    if os.path.normpath(path) == os.path.normpath(demo.out_dir) and not os.path.isdir(path):
        return (demo.n_images + 1) // 2, demo.n_images // 2
    if os.path.isdir(path):
        names = (os.path.join(root, f) for root, _, files in os.walk(path) for f in files)
    elif path.lower().endswith(".zip"):
        import zipfile
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return None  # ingest reports it, naming the file
    else:
        return None
    counts = [0, 0]
    for name in names:
        if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
            label = label_from_path(name)
            if label is not None:
                counts[label] += 1
    return counts[0], counts[1]


def check_data(params: Params) -> None:
    """Checks that need to look at the photos' names: their pixels fit in memory, and the
    validation split leaves photos in each set."""
    d, t = params.data, params.train
    counts = class_counts(d.train_dir, params.demo)
    if counts is None:
        return
    photo = 3 * d.image_size ** 2
    total = sum(counts)
    if not d.split_train:
        test = class_counts(d.test_dir, params.demo)
        total += sum(test or (0, 0))
    # Ingest holds every decoded photo as uint8 pixels; so do featurize and train.
    _check(total * photo <= machine_memory(),
           f"data.image_size {d.image_size} is too large for the {total} photos of data.train_dir"
           f"{'' if d.split_train else ' and data.test_dir'}: their pixels need "
           f"{format_bytes(total * photo)}, more than this machine's "
           f"{format_bytes(machine_memory())} of memory")
    if t.validation_fraction == 0:
        return
    training = [n - (held_out_count(n, d.test_fraction) if d.split_train else 0) for n in counts]
    validation = sum(held_out_count(n, t.validation_fraction, keep_one=False) for n in training)
    _check(validation > 0,
           f"train.validation_fraction {t.validation_fraction} holds out no photo of the "
           f"{sum(training)} training photos ({', '.join(f'{n} {name}s' for n, name in zip(training, LABEL_NAMES))}): "
           f"raise it, or set 0 for no validation set")
