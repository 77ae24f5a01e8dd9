"""Running a command (a stage, or `python -m catdog predict`): user errors become one clear
line on stderr and exit status 1; Ctrl-C gives status 130 without a traceback."""
from __future__ import annotations

import sys
from typing import Callable

from catdog.errors import CatdogError


def run_command(name: str, main: Callable[[], int | None]) -> int:
    """Run `main` and return its exit status (None counts as 0)."""
    try:
        return main() or 0
    except CatdogError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
    except MemoryError:
        print(f"{name}: error: out of memory; lower the sizes in params.yaml "
              "(data.image_size, train.hidden_size) or use fewer photos", file=sys.stderr)
    except KeyboardInterrupt:
        # Outputs are written atomically: what exists is complete, the rest was not started.
        print(f"{name}: interrupted; no output was left half-written", file=sys.stderr)
        return 130
    return 1


def run_stage(name: str, main: Callable[[], None]) -> None:
    sys.exit(run_command(name, main))
