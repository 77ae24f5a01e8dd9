"""`make photos`: the recommended recipe on the folder (or archive) in $PHOTOS, as one
`dvc exp run`, tested on $TEST_PHOTOS or on a seeded split of $PHOTOS.

    PHOTOS=path [TEST_PHOTOS=path] python scripts/photos.py KEY=VALUE...

The paths come through the environment, never through a shell command line, and are recorded
relative to the project (a table of experiments then shows no machine's folders). `dvc exp run
-S` reads values in Hydra's override syntax, so each path is passed quoted; the few characters
that syntax cannot carry in a path are refused with one line.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
USAGE = "usage: make photos PHOTOS=<folder or archive> [TEST_PHOTOS=<folder or archive>]"


def recorded(variable: str, path: str) -> str:
    """`path` relative to the project, as Hydra's quoted string; exits with one line if it
    cannot be."""
    if not os.path.exists(path):
        sys.exit(f"photos: error: {variable}={path} does not exist")
    bad = [c for c in ("\\", "${", "\n", "\r", "\t") if c in path]
    if bad:
        sys.exit(f"photos: error: {variable}={path!r} holds {bad[0]!r}, which `dvc exp run -S` "
                 "cannot pass in a path; rename or link the folder")
    relative = os.path.relpath(os.path.abspath(path), PROJECT)
    return "'" + relative.replace("'", "\\'") + "'"


def main(recipe: list[str]) -> None:
    photos = os.environ.get("PHOTOS", "")
    if not photos:
        sys.exit(USAGE)
    train_dir = recorded("PHOTOS", photos)
    test_photos = os.environ.get("TEST_PHOTOS", "")
    test_dir = recorded("TEST_PHOTOS", test_photos) if test_photos else train_dir
    command = ["dvc", "exp", "run", "-S", f"data.train_dir={train_dir}",
               "-S", f"data.test_dir={test_dir}"]
    for setting in recipe:
        command += ["-S", setting]
    print(" ".join(command), flush=True)
    os.chdir(PROJECT)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
