"""Training progress while a run is going: in DVCLive's layout, so that `dvc exp show` and the
VS Code extension show the latest recorded iteration, and as a line every few seconds on a
log that is not a terminal (DVC and CI run stages that way, where a progress bar stays silent)."""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Callable, TextIO

from catdog.storage import write_text

PROGRESS_DIR = "metrics/live"
# The summary's keys while a run goes: "progress/cost" is the latest recorded value, never to be
# taken for the kept model's `final_cost` (metrics/train.json) or test accuracy (evaluate.json).
PREFIX = "progress/"


class Progress:
    """An `on_record` callback for `catdog.training.train`.

    Each recorded iteration's values (cost, and the accuracy and loss of each set when they
    are recorded) become DVCLive's summary, `<directory>/metrics.json`:
    {"progress": {"cost": ..., ...}, "step": i}, rewritten at every record. `finish()` leaves
    only the step, so a finished experiment shows one cost and one accuracy: the model's. No
    timestamps are logged, so a rerun writes the same bytes.
    """

    def __init__(self, directory: str = PROGRESS_DIR):
        from dvclive import Live  # only the train stage needs it

        # dvc.yaml declares the file, and `dvc exp run` records the experiment: DVCLive is
        # asked for neither its own dvc.yaml, nor a report, nor to save an experiment.
        self.live = Live(directory, save_dvc_exp=False, dvcyaml=None, report=None)
        self.step: int | None = None  # the latest recorded iteration

    def __call__(self, iteration: int, values: dict[str, float]) -> None:
        self.live.step = self.step = iteration
        for name, value in values.items():
            # The curves are plotted from the stage's CSV files; here only the latest value.
            self.live.log_metric(PREFIX + name, value, plot=False)
        self._write_summary(final=False)

    def finish(self) -> None:
        """The run is over: drop the latest values, keep the step reached."""
        self.live.summary = {}
        self._write_summary(final=True)

    def _write_summary(self, final: bool) -> None:
        # DVCLive's `make_summary` truncates the file before writing it: a run killed in
        # between would leave it empty (and `dvc exp show` shows "!"). The file is made, and
        # given its final bytes, by a rename instead. In between, while records come many
        # times a second, it is overwritten in place: a rename's temporary file would be left
        # behind by a kill (a new output in metrics/ that no checkout removes).
        from dvclive.plots import NumpyEncoder

        if self.step is not None:
            self.live.summary["step"] = self.step
        text = json.dumps(self.live.summary, indent=4, cls=NumpyEncoder) + "\n"
        path = self.live.metrics_file
        if final or not os.path.isfile(path):
            write_text(path, text, durable=False)
        else:
            _overwrite_json(path, text.encode("utf-8"))


def _overwrite_json(path: str, data: bytes) -> None:
    """Write JSON text `data` over the file's start in one write, which a kill cannot split
    (it is far smaller than a page). The file never shrinks: spaces before the closing brace,
    which JSON ignores, fill it to its length, so no byte of the old text is left after it."""
    fd = os.open(path, os.O_WRONLY)
    try:
        size = os.fstat(fd).st_size
        if len(data) < size:
            data = data[:-2] + b" " * (size - len(data)) + data[-2:]
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


class Heartbeat:
    """Call after each epoch: when `stream` is not a terminal, prints a line at least every
    `every` seconds of epochs (epoch, cost, elapsed and remaining time); on a terminal the
    progress bar shows the same and this stays quiet."""

    def __init__(self, epochs: int, label: str = "train", every: float = 8.0,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic):
        self.epochs, self.label, self.every, self.clock = epochs, label, every, clock
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = not self.stream.isatty()
        self.start = clock()
        self.due = self.start + every

    def __call__(self, done: int, cost: float) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if now < self.due:
            return
        self.due = now + self.every
        elapsed = now - self.start
        remaining = elapsed / done * (self.epochs - done)
        print(f"{self.label}: epoch {done}/{self.epochs}, cost {cost:.6f}, {elapsed:.0f} s elapsed, "
              f"about {remaining:.0f} s to go", file=self.stream, flush=True)
