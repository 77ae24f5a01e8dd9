"""`catdog COMMAND ...` (or `python -m catdog`): the project's command line."""
from __future__ import annotations

import importlib
import os
import sys

from catdog.cli import run_command

# Each command's module, imported only when the command runs (predict's needs OpenCV and
# pandas, which a `check-lock` in CI should not wait for).
COMMANDS = {"predict": "catdog.predict", "plots": "catdog.plots", "check-lock": "catdog.lockcheck",
            "rebuild": "catdog.rebuild"}
USAGE = """usage: python -m catdog COMMAND [ARGS...]   (or, installed: catdog COMMAND [ARGS...])

commands:
  predict PATH... [--csv FILE] [--submission FILE] [--model FILE]
                 say whether each photo (in files, folders or .zip/.tar/.tgz archives) shows
                 a cat or a dog; --submission writes Kaggle's id,label
  plots [REV...] [-o DIR]
                 write DVC's plots as a page that needs no network, and as SVG images
  check-lock --current | --reproduced
                 before dvc repro: dvc.lock is up to date with code and params; after it:
                 dvc.lock and metrics/ equal the committed ones (CI's reproducibility check)
  rebuild FILE...
                 remake pipeline outputs whose bytes were damaged (and their cache copies)

`catdog predict --help` describes a command's options."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"], ["help"]):
        print(USAGE)
        return 0
    if not argv or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        if argv:
            print(f"catdog: error: unknown command {argv[0]!r}", file=sys.stderr)
        return 2
    name, args = argv[0], argv[1:]
    try:
        return run_command(name, lambda: importlib.import_module(COMMANDS[name]).main(args))
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
