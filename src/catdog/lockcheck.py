"""`catdog check-lock`: is the committed dvc.lock what this code and these params produce?

Two checks, each naming the stage and the file that fails it:

    catdog check-lock --current     before `dvc repro`: no stage's code, params or command
                                    changed since dvc.lock was written (a change committed
                                    without its new dvc.lock)
    catdog check-lock --reproduced  after `dvc repro`: dvc.lock and every metrics file equal
                                    the committed ones (the results are the same bits here)

CI runs both around `make repro` (`make check-repro`), on whatever CPU the runner has.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

import yaml

from catdog.errors import CatdogError

BUILT_LATER = {"deleted", "not in cache"}  # an output of an earlier stage, not built yet here


class LockMismatch(CatdogError):
    """dvc.lock does not match the code, the params or the results."""


def stale_stages(status: dict) -> list[str]:
    """From `dvc status --json`: one line per stage input changed since dvc.lock was written."""
    problems = []
    for stage, changes in status.items():
        for change in changes:
            if isinstance(change, str):   # "changed command", "always changed"
                problems.append(f"stage {stage}: {change}")
                continue
            for path, state in change.get("changed deps", {}).items():
                if isinstance(state, dict):   # params: {"train.learning_rate": "modified"}
                    keys = ", ".join(f"{k} {v}" for k, v in state.items())
                    problems.append(f"stage {stage}: {path} ({keys})")
                elif state not in BUILT_LATER:
                    problems.append(f"stage {stage}: {path} {state}")
    return problems


def lock_outputs(lock: dict | None) -> dict[tuple[str, str], str]:
    """(stage, path) -> md5 of every recorded output."""
    found = {}
    for stage, entry in (lock or {}).get("stages", {}).items():
        for out in entry.get("outs", []):
            found[(stage, out["path"])] = out.get("md5", "")
    return found


def lock_differences(committed: dict, current: dict) -> list[str]:
    """One line per output whose recorded hash differs between two dvc.lock contents."""
    before, after = lock_outputs(committed), lock_outputs(current)
    lines = []
    for key in sorted(before.keys() | after.keys()):
        stage, path = key
        if before.get(key) != after.get(key):
            lines.append(f"stage {stage}: {path} is not reproduced "
                         f"(committed md5 {before.get(key) or 'none'}, here {after.get(key) or 'none'})")
    return lines


def _run(*args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, capture_output=True, text=True)
    except FileNotFoundError:
        raise LockMismatch(f"{args[0]} not found on the PATH (`make check-repro` puts the "
                           f"project's .venv first)") from None


def _git(*args: str) -> str:
    proc = _run("git", *args)
    if proc.returncode != 0:
        raise LockMismatch(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def check_current() -> None:
    proc = _run("dvc", "status", "--json")
    if proc.returncode != 0:
        raise LockMismatch(f"dvc status failed: {proc.stderr.strip()}")
    problems = stale_stages(json.loads(proc.stdout or "{}"))
    if problems:
        raise LockMismatch("dvc.lock is older than the code or params committed with it:\n  "
                           + "\n  ".join(problems)
                           + "\nrun `dvc repro` and commit dvc.lock and metrics/ with the change")


def check_reproduced(revision: str = "HEAD") -> None:
    committed = yaml.safe_load(_git("show", f"{revision}:dvc.lock"))
    with open("dvc.lock") as f:
        current = yaml.safe_load(f)
    lines = lock_differences(committed, current)
    changed = [p for p in _git("diff", "--name-only", revision, "--", "metrics").split() if p]
    lines += [f"{path} differs from the committed one" for path in changed]
    if lines:
        raise LockMismatch("the pipeline did not reproduce the committed results:\n  "
                           + "\n  ".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="catdog check-lock", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--current", action="store_true",
                      help="before dvc repro: dvc.lock is up to date with code and params")
    mode.add_argument("--reproduced", action="store_true",
                      help="after dvc repro: dvc.lock and metrics equal the committed ones")
    args = parser.parse_args(argv)
    if args.current:
        check_current()
        print("check-lock: dvc.lock is up to date with the code and params")
    else:
        check_reproduced()
        print("check-lock: dvc.lock and metrics/ reproduced bit for bit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
