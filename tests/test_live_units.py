"""catdog.live without dvc: the heartbeat line on a clock the test drives, the progress file's
bytes (DVCLive's layout, never shrinking while a run goes) and the in-place overwrite."""
from __future__ import annotations

import io
import json

from dvclive.serialize import dump_json

from catdog.live import Heartbeat, Progress, _overwrite_json


class Clock:
    """Seconds the test sets by hand."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def beats(heartbeat: Heartbeat, clock: Clock, calls: list[tuple[float, int, float]]) -> None:
    for now, done, cost in calls:
        clock.now = now
        heartbeat(done, cost)


def test_heartbeat_lines_every_eight_seconds_from_the_start_with_the_time_left():
    """Start at 100 s, 10 epochs, the default 8 s: lines at 108 (exactly due), 117 (next due
    125, counted from 117), 125, and 140; the time left is elapsed / done * (epochs - done)."""
    clock = Clock(100.0)
    log = io.StringIO()
    heartbeat = Heartbeat(10, stream=log, clock=clock)
    beats(heartbeat, clock, [
        (104.0, 1, 0.5),          # 4 s: not yet
        (108.0, 2, 0.5),          # 8 s, due at 108: a line; 8 / 2 * 8 = 32 s to go
        (117.0, 3, 0.123456789),  # due at 116: a line; 17 / 3 * 7 = 39.7 s to go
        (124.25, 4, 0.25),        # next due 117 + 8 = 125: not yet
        (125.0, 5, 0.25),         # 25 / 5 * 5 = 25 s to go
        (130.0, 6, 0.25),         # next due 133: not yet
        (140.0, 10, 0.0625),      # the last epoch: 0 s to go
    ])
    assert log.getvalue().splitlines() == [
        "train: epoch 2/10, cost 0.500000, 8 s elapsed, about 32 s to go",
        "train: epoch 3/10, cost 0.123457, 17 s elapsed, about 40 s to go",
        "train: epoch 5/10, cost 0.250000, 25 s elapsed, about 25 s to go",
        "train: epoch 10/10, cost 0.062500, 40 s elapsed, about 0 s to go",
    ]


def test_heartbeat_every_and_label_are_its_own():
    clock = Clock(0.0)
    log = io.StringIO()
    heartbeat = Heartbeat(4, label="sweep", every=2.0, stream=log, clock=clock)
    beats(heartbeat, clock, [(1.0, 1, 1.0), (2.0, 2, 1.0), (3.0, 3, 1.0), (4.0, 4, 1.0)])
    assert log.getvalue().splitlines() == [
        "sweep: epoch 2/4, cost 1.000000, 2 s elapsed, about 2 s to go",
        "sweep: epoch 4/4, cost 1.000000, 4 s elapsed, about 0 s to go",
    ]


def test_heartbeat_is_quiet_on_a_terminal():
    clock = Clock(0.0)
    terminal = Terminal()
    heartbeat = Heartbeat(10, stream=terminal, clock=clock)
    beats(heartbeat, clock, [(100.0, 1, 0.5), (1000.0, 10, 0.5)])
    assert terminal.getvalue() == ""


def test_heartbeat_writes_to_stderr_by_default(capsys):
    clock = Clock(0.0)
    heartbeat = Heartbeat(2, clock=clock)  # sys.stderr is pytest's capture here: not a terminal
    beats(heartbeat, clock, [(9.0, 1, 0.5)])
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "train: epoch 1/2, cost 0.500000, 9 s elapsed, about 9 s to go\n"


def test_a_heartbeat_line_reaches_the_file_at_once(tmp_path):
    """A log file is read while the run goes: each line is flushed, not left in a buffer."""
    path = tmp_path / "train.log"
    clock = Clock(0.0)
    with open(path, "w") as log:
        heartbeat = Heartbeat(2, stream=log, clock=clock)
        beats(heartbeat, clock, [(8.0, 1, 0.5)])
        assert path.read_text() == "train: epoch 1/2, cost 0.500000, 8 s elapsed, about 8 s to go\n"


def test_overwrite_pads_a_shorter_text_with_spaces_before_the_closing_brace(tmp_path):
    path = tmp_path / "metrics.json"
    old = b'{\n    "progress": {\n        "cost": 0.123456\n    },\n    "step": 10\n}\n'
    path.write_bytes(old)
    new = b'{\n    "step": 11\n}\n'
    _overwrite_json(str(path), new)
    written = path.read_bytes()
    assert written == b'{\n    "step": 11\n' + b" " * (len(old) - len(new)) + b"}\n"
    assert len(written) == len(old) and json.loads(written) == {"step": 11}


def test_overwrite_with_a_text_as_long_or_longer_writes_it_as_it_is(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_bytes(b'{\n    "step": 9\n}\n')
    longer = b'{\n    "step": 10\n}\n'
    _overwrite_json(str(path), longer)
    assert path.read_bytes() == longer
    same = b'{\n    "step": 11\n}\n'
    _overwrite_json(str(path), same)
    assert path.read_bytes() == same


def test_progress_writes_what_dvclive_writes_and_finishes_with_the_step_alone(tmp_path):
    """The first record's file is DVCLive's own bytes for the same summary; later records keep
    it whole JSON of the same length or more; `finish` leaves exactly the step. Step 0 counts."""
    directory = tmp_path / "live"
    progress = Progress(str(directory))
    progress(0, {"cost": 0.5, "test_accuracy": 0.75})
    summary = {"progress": {"cost": 0.5, "test_accuracy": 0.75}, "step": 0}
    dump_json(summary, str(tmp_path / "dvclive.json"))
    assert (directory / "metrics.json").read_bytes() == (tmp_path / "dvclive.json").read_bytes()

    size = (directory / "metrics.json").stat().st_size
    progress(1, {"cost": 0.25})
    text = (directory / "metrics.json").read_text()
    assert json.loads(text) == {"progress": {"cost": 0.25, "test_accuracy": 0.75}, "step": 1}
    assert len(text) >= size and text.endswith("}\n")

    progress.finish()
    assert (directory / "metrics.json").read_text() == '{\n    "step": 1\n}\n'
    # Only the summary: the curves come from the stage's CSV files, not DVCLive's plots.
    assert sorted(p.name for p in directory.rglob("*")) == ["metrics.json"]


def test_progress_finished_at_step_zero_keeps_the_step(tmp_path):
    progress = Progress(str(tmp_path / "live"))
    progress(0, {"cost": 0.5})
    progress.finish()
    assert (tmp_path / "live/metrics.json").read_text() == '{\n    "step": 0\n}\n'
