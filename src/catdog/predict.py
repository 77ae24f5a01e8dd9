"""Classify new photos with a trained model, preprocessed exactly as in training.

Photos are found and read by ingest's own code (`catdog.dataset`): folders, single files and
.zip/.tar/.tar.gz/.tgz archives, with the same limits and safety rules, decoded on every core
in small batches, so memory does not grow with the number of photos. Names need not say cat
or dog. Everything printed that comes from a file name or a model file is escaped first.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from catdog.archives import Archive, ArchiveLimits
from catdog.dataset import CHUNK, NOT_AN_IMAGE, _Entry, decode_batches, find_entries
from catdog.errors import CatdogError
from catdog.images import DEFAULT_LIMITS, Limits
from catdog.labels import IMAGE_SUFFIXES, printable
from catdog.model import BATCH, Model, load_model
from catdog.storage import write_csv

DEFAULT_MODEL = "models/model.npz"
DEFAULT_THRESHOLD = 0.5  # the tutorial's, for a model no dvc.lock records as evaluated


class PredictError(CatdogError):
    """Nothing to classify, or no usable model."""


@dataclass
class Predictions:
    """What became of every photo found: p_dog for those classified, a reason for the others."""

    frame: pd.DataFrame   # path, label, p_dog in the order found (sorted within each source)
    ids: list[str]        # the file or member name of each row, for submission ids
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    not_photos: dict[str, int] = field(default_factory=dict)  # source -> files ignored by name
    empty: list[str] = field(default_factory=list)  # sources without a photo


def _name(entry: _Entry) -> str:
    return entry.file if entry.member is None else entry.member.name


def classify(model: Model, sources: list[str], threshold: float = DEFAULT_THRESHOLD,
             flip_average: bool = False, workers: int = 0, limits: Limits = DEFAULT_LIMITS,
             fast_decode: bool = False, progress: bool = True,
             require_ids: bool = False, bounds: ArchiveLimits | None = None) -> Predictions:
    """Probability of dog for each photo in `sources` (files, folders, archives).

    With `require_ids`, every photo's name must be a number (`123.jpg`), checked before any
    photo is decoded (see `submission_ids`). `bounds` limit the work an archive may cause
    (by default those of `limits` and the data.max_* params' defaults).
    """
    archives: list[Archive] = []
    try:
        # Each entry's "split" is the source it was found in, as shown.
        entries = find_entries([(printable(s), s, printable(s)) for s in sources], limits,
                               archives, labelled=False, files=True, bounds=bounds)
        if require_ids:
            submission_ids([_name(e) for e in entries if not e.reason],
                           [e.path for e in entries if not e.reason])
        p_dog = np.full(len(entries), np.nan)
        pending: list[tuple[int, np.ndarray]] = []

        def run(batch: list[tuple[int, np.ndarray]]) -> None:
            rows = np.array([i for i, _ in batch], dtype=np.intp)
            p_dog[rows] = model.probabilities_of_images(np.stack([image for _, image in batch]),
                                                        flip_average)

        for decoded in decode_batches(entries, archives, model.image_size, fast_decode, limits,
                                      workers or os.cpu_count() or 1, progress, desc="predict",
                                      ahead=BATCH // CHUNK):
            pending += [(i, photo.image) for i, photo in decoded]
            if len(pending) >= BATCH:
                run(pending)
                pending = []
        if pending:
            run(pending)
    finally:
        for archive in archives:
            archive.close()
    return _collect(model, sources, entries, p_dog, threshold)


def _collect(model: Model, sources: list[str], entries: list[_Entry], p_dog: np.ndarray,
             threshold: float) -> Predictions:
    names = [printable(n) for n in model.label_names]
    done = [i for i, e in enumerate(entries) if not e.reason]
    frame = pd.DataFrame({"path": [entries[i].path for i in done],
                          "label": [names[int(p_dog[i] > threshold)] for i in done],
                          "p_dog": p_dog[done].astype(np.float64)})
    result = Predictions(frame, [_name(entries[i]) for i in done])
    photos_in: dict[str, int] = {printable(s): 0 for s in sources}
    for entry in entries:
        if entry.reason == NOT_AN_IMAGE:
            result.not_photos[entry.split] = result.not_photos.get(entry.split, 0) + 1
            continue
        photos_in[entry.split] += 1
        if entry.reason:
            result.failures.append((entry.path, entry.reason))
    result.empty = [s for s, n in photos_in.items() if n == 0]
    return result


def predict_files(model: Model, paths: list[str]) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Probability of dog for each readable photo, and (path, reason) for the others; paths
    as `printable` writes them."""
    result = classify(model, paths, progress=False)
    return result.frame, result.failures


def submission_ids(names: list[str], shown: list[str] | None = None) -> list[int]:
    """The number each photo is named by (`test1/123.jpg` -> 123), as a Kaggle submission's
    ids; PredictError naming a photo whose name is not a number, or two with one number."""
    shown = names if shown is None else shown
    ids, seen = [], {}
    for name, where in zip(names, shown):
        stem = PurePosixPath(name.replace("\\", "/")).name.split(".", 1)[0]
        if not (stem.isascii() and stem.isdigit()):
            bad = sum(1 for n in names
                      if not PurePosixPath(n.replace("\\", "/")).name.split(".", 1)[0].isdigit())
            raise PredictError(f"a submission needs photos named by number, like Kaggle's "
                               f"1.jpg ... 12500.jpg; {where} is not ({bad} of {len(names)} "
                               f"photos are not)")
        number = int(stem)
        if number in seen:
            raise PredictError(f"a submission needs one photo per number; {seen[number]} and "
                               f"{where} are both number {number}")
        seen[number] = where
        ids.append(number)
    return ids


def submission(result: Predictions) -> pd.DataFrame:
    """Kaggle's `id,label` with label = probability of dog, sorted by id as numbers."""
    frame = pd.DataFrame({"id": submission_ids(result.ids, result.frame.path.tolist()),
                          "label": result.frame.p_dog.to_numpy()})
    return frame.sort_values("id", kind="stable").reset_index(drop=True)


def open_model(path: str) -> Model:
    """The model at `path`, or a one-line error saying where it was looked for."""
    if not Path(path).is_file():
        where = os.path.abspath(path)
        hint = (" (the default, relative to the current folder)" if path == DEFAULT_MODEL else "")
        raise PredictError(
            f"no model at {printable(where)}{hint}; run from the project's folder after "
            f"`dvc repro`, or pass the model file with --model PATH")
    try:
        return load_model(path)
    except CatdogError as exc:
        raise PredictError(printable(str(exc))) from None
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise PredictError(f"cannot read the model {printable(path)}: {exc}") from None


def evaluated_threshold(model_path: str, lock: str = "dvc.lock") -> float | None:
    """The evaluate stage's threshold when `lock` records that stage run on exactly this
    model file (same MD5), else None."""
    from catdog.params import ParamsError, read_yaml  # only when looking for a lock file
    try:
        stage = (read_yaml(lock) or {}).get("stages", {}).get("evaluate", {})
        locked = {dep["path"]: dep.get("md5") for dep in stage.get("deps", [])}
        threshold = stage["params"]["params.yaml"]["evaluate.threshold"]
    except (ParamsError, AttributeError, KeyError, TypeError):
        return None
    digest = hashlib.md5()
    with open(model_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if locked.get(DEFAULT_MODEL) != digest.hexdigest() or isinstance(threshold, bool):
        return None
    return float(threshold) if isinstance(threshold, (int, float)) and 0 < threshold < 1 else None


def write_lines(stream, lines: list[str]) -> str:
    """Write `lines` to a text stream; "" when done, "closed" when the reader went away
    (`| head`), else why it failed. Afterwards the stream can no longer fail at exit."""
    try:
        for line in lines:
            stream.write(line + "\n")
        stream.flush()
        return ""
    except BrokenPipeError:
        failed = "closed"
    except OSError as exc:
        failed = exc.strerror or str(exc)
    # Whatever is still buffered would fail again when Python flushes it at exit.
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return failed


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, got {text!r}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m catdog predict",
        description="Say whether each photo shows a cat or a dog: one line per photo, "
                    "path<TAB>label<TAB>probability of dog.")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="photo files, folders or .zip/.tar/.tar.gz/.tgz archives of photos")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="trained model (default: %(default)s in the current folder)")
    parser.add_argument("--csv", metavar="FILE", help="also write path,label,p_dog to FILE")
    parser.add_argument("--submission", metavar="FILE",
                        help="also write a Kaggle submission to FILE: id,label with label the "
                             "probability of dog, ids from photos named by number (1.jpg), in "
                             "numerical order")
    parser.add_argument("--threshold", type=_threshold, metavar="T",
                        help="call a photo a dog above this probability (default: the "
                             "evaluate stage's threshold when dvc.lock in the current folder "
                             f"records this model, else {DEFAULT_THRESHOLD})")
    parser.add_argument("--flip-average", action="store_true",
                        help="average each photo's probability with its mirror image's")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="decoding threads (default 0: one per core)")
    args = parser.parse_args(argv)
    if args.workers < 0:
        parser.error(f"--workers must be 0 (one per core) or more, got {args.workers}")
    return args


def report(result: Predictions) -> list[str]:
    """The lines for stderr: what could not be classified, and why."""
    lines = [f"predict: skipped {path}: {reason}" for path, reason in result.failures]
    for source, n in result.not_photos.items():
        lines.append(f"predict: ignored {n} file(s) in {source} not named as photos "
                     f"(looked for files ending in {', '.join(sorted(IMAGE_SUFFIXES))})")
    lines += [f"predict: no photos in {source}" for source in result.empty]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    model = open_model(args.model)
    threshold = args.threshold or evaluated_threshold(args.model) or DEFAULT_THRESHOLD
    result = classify(model, args.paths, threshold, args.flip_average, args.workers,
                      require_ids=bool(args.submission))
    if result.frame.empty and not result.failures:
        raise PredictError(f"no photos in {', '.join(printable(p) for p in args.paths)} "
                           f"(looked for files ending in {', '.join(sorted(IMAGE_SUFFIXES))})")
    # The files first: whatever happens to stdout (`| head`, a full disk), they are written.
    if args.csv:
        write_csv(args.csv, result.frame)
    if args.submission:
        write_csv(args.submission, submission(result))
    stdout = write_lines(sys.stdout, [f"{r.path}\t{r.label}\t{r.p_dog:.6f}"
                                      for r in result.frame.itertuples(index=False)])
    for line in report(result):
        print(line, file=sys.stderr)
    if stdout not in ("", "closed"):
        print(f"predict: error: cannot write to standard output: {stdout}", file=sys.stderr)
        return 1
    return 1 if result.failures or result.empty else 0
