"""`catdog rebuild FILE...`: remake pipeline outputs whose bytes were damaged on disk.

With the project's hard-link cache (`.dvc/config`), an output and its cache copy are one file:
a damaged byte is in both, `dvc status` cannot see it (it trusts the recorded hash) and
`dvc repro -f` links the damaged copy back after the stage rewrites it. So each file is
removed together with its cache copy, and `dvc repro` then reruns the stages that write them.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from catdog.errors import CatdogError
from catdog.lockcheck import lock_outputs
from catdog.params import read_yaml

LOCK = "dvc.lock"


class RebuildError(CatdogError):
    """A file that is not an output recorded in dvc.lock."""


def recorded_outputs() -> dict[str, tuple[str, str]]:
    """Each output path in dvc.lock -> (the stage writing it, its md5 or "")."""
    lock = read_yaml(LOCK) if os.path.exists(LOCK) else None
    return {os.path.normpath(path): (stage, md5)
            for (stage, path), md5 in lock_outputs(lock).items()}


def cache_copy(md5: str) -> str:
    """Where DVC's local cache keeps the object of this hash."""
    from dvc.repo import Repo  # only this command needs DVC in-process

    with Repo(".") as repo:
        return repo.cache.local.oid_to_path(md5)


def remove(path: str, outputs: dict[str, tuple[str, str]]) -> str:
    """Remove a damaged output and its cache copy; returns the stage that writes it."""
    stage, md5 = outputs[os.path.normpath(path)]
    if md5:
        copy = cache_copy(md5)
        if os.path.lexists(copy):
            os.chmod(copy, 0o644)  # DVC keeps cache objects read-only
            os.unlink(copy)
    if os.path.lexists(path):
        os.unlink(path)
    return stage


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="catdog rebuild", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="FILE", help="outputs recorded in dvc.lock")
    args = parser.parse_args(argv)
    outputs = recorded_outputs()
    for path in args.files:  # every file checked before any is removed
        if os.path.normpath(path) not in outputs:
            raise RebuildError(f"{path} is not an output recorded in {LOCK}; "
                               f"outputs: {', '.join(sorted(outputs)) or 'none yet'}")
    stages = sorted({remove(path, outputs) for path in args.files})
    print(f"rebuild: removed {', '.join(args.files)} and the cache copies; running dvc repro",
          flush=True)
    return subprocess.run([sys.executable, "-m", "dvc", "repro", *stages]).returncode
