"""`make compare` (`python -m catdog.compare`): the experiments of the current commit in one
table that fits a terminal -- the params that differ between them and the key metrics.

`dvc exp show --only-changed` lists every changed value, dependency hash and bookkeeping
metric (dozens of columns, some named after a machine's folders). This keeps the test accuracy,
log loss and ROC AUC of the kept model (evaluate), the validation loss when there is a
validation split, and the params whose values differ; a path param shows the folder's name.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from typing import Any

MAX_COLUMNS = 12
# (column, metrics file, key): the kept model's results; never the live progress file.
METRICS = [("test_accuracy", "metrics/evaluate.json", "accuracy"),
           ("test_log_loss", "metrics/evaluate.json", "log_loss"),
           ("roc_auc", "metrics/evaluate.json", "roc_auc"),
           ("validation_loss", "metrics/train.json", "validation_loss")]
PATH_PARAMS = {"data.train_dir", "data.test_dir", "demo.out_dir"}


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _row(name: str, data: dict) -> dict[str, Any]:
    params = flatten(((data.get("params") or {}).get("params.yaml") or {}).get("data") or {})
    metrics = data.get("metrics") or {}
    row: dict[str, Any] = {"params": params}
    for column, path, key in METRICS:
        row[column] = ((metrics.get(path) or {}).get("data") or {}).get(key)
    row["Experiment"] = name
    return row


def experiment_rows(exp_show: list[dict]) -> list[dict[str, Any]]:
    """The baseline commit, then each of its experiments, from `dvc exp show --json`."""
    rows = []
    for commit in exp_show:
        if commit["rev"] == "workspace":
            continue
        rows.append(_row(commit.get("name") or commit["rev"][:7], commit.get("data") or {}))
        for experiment in commit.get("experiments") or []:
            for rev in experiment.get("revs") or []:
                name = rev.get("name") or rev["rev"][:7]
                rows.append(_row(f"  {name}", rev.get("data") or {}))
    return rows


def _shown(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in PATH_PARAMS and isinstance(value, str):
        return os.path.basename(os.path.normpath(value)) or value
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def _differing(rows: list[dict[str, Any]]) -> list[str]:
    keys = sorted({k for r in rows for k in r["params"]})
    return [k for k in keys if len({json.dumps(r["params"].get(k)) for r in rows}) > 1]


def table(rows: list[dict[str, Any]], sort_by: str | None = None) -> dict[str, Any]:
    """The baseline first, then its experiments: {"header", "body", "common", "left_out"}.

    A param that every experiment sets alike, unlike the baseline, is listed once ("common"),
    not as a column; the columns are the params that differ between experiments."""
    baseline, experiments = rows[:1], rows[1:]
    metrics = [c for c, _, _ in METRICS if any(r[c] is not None for r in rows)]
    varying = _differing(experiments) if len(experiments) > 1 else []
    common = [k for k in _differing(rows) if k not in varying]
    room = MAX_COLUMNS - 1 - len(metrics)
    params, left_out = varying[:room], varying[room:]
    leaves = [k.rsplit(".", 1)[-1] for k in params]
    names = [leaf if leaves.count(leaf) == 1 else key for key, leaf in zip(params, leaves)]
    if sort_by:
        if sort_by not in metrics:
            raise SystemExit(f"compare: error: SORT takes one of {', '.join(metrics)}, got {sort_by!r}")
        experiments = sorted(experiments, key=lambda r: (r[sort_by] is None, r[sort_by] or 0))
    body = [[r["Experiment"], *(_shown(k, r["params"].get(k)) for k in params),
             *(_shown(m, r[m]) for m in metrics)] for r in [*baseline, *experiments]]
    settings = [f"{k}={_shown(k, experiments[0]['params'].get(k))}" for k in common]
    return {"header": ["Experiment", *names, *metrics], "body": body, "common": settings,
            "left_out": left_out}


def render(header: list[str], body: list[list[str]], markdown: bool = False) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(c.strip() for c in r) + " |" for r in body])
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in [header, *body])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sort-by", help="a metric column, smallest first (e.g. test_log_loss)")
    parser.add_argument("--md", action="store_true", help="a Markdown table")
    args = parser.parse_args(argv)
    proc = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"compare: error: dvc exp show failed: {proc.stderr.strip()}", file=sys.stderr)
        return 1
    shown = table(experiment_rows(json.loads(proc.stdout)), args.sort_by)
    if shown["common"]:
        print("every experiment, unlike the baseline: " + " ".join(shown["common"]))
    print(render(shown["header"], shown["body"], args.md))
    if shown["left_out"]:
        print(f"(also differing, left out for width: {', '.join(shown['left_out'])}; "
              "`dvc exp show --only-changed` lists everything)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
