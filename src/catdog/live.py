"""Training progress in DVCLive's layout, so that `dvc exp show` and the VS Code extension
show the latest recorded iteration while a run is still going."""
from __future__ import annotations

import json

from dvclive import Live
from dvclive.plots import NumpyEncoder

from catdog.storage import write_text

PROGRESS_DIR = "metrics/live"


class Progress:
    """An `on_record` callback for `catdog.training.train`.

    Each recorded iteration's values (cost, and the accuracy and loss of each set when they
    are recorded) become DVCLive's summary, `<directory>/metrics.json`: {"step": i, ...},
    rewritten at every record. No timestamps are logged, so a rerun writes the same bytes.
    """

    def __init__(self, directory: str = PROGRESS_DIR):
        # dvc.yaml declares the file, and `dvc exp run` records the experiment: DVCLive is
        # asked for neither its own dvc.yaml, nor a report, nor to save an experiment.
        self.live = Live(directory, save_dvc_exp=False, dvcyaml=None, report=None)

    def __call__(self, iteration: int, values: dict[str, float]) -> None:
        self.live.step = iteration
        for name, value in values.items():
            # The curves are plotted from the stage's CSV files; here only the latest value.
            self.live.log_metric(name, value, plot=False)
        # DVCLive's `make_summary` truncates the file before writing it: a run killed in
        # between would leave it empty (and `dvc exp show` shows "!"). The same bytes are
        # written to a temporary file and renamed over it instead; a rename needs no flush
        # to the disk to be whole after a kill.
        self.live.summary["step"] = iteration
        write_text(self.live.metrics_file,
                   json.dumps(self.live.summary, indent=4, cls=NumpyEncoder) + "\n", durable=False)
