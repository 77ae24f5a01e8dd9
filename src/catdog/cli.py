"""Running a stage: user errors become one clear line on stderr and exit status 1."""
from __future__ import annotations

import sys
from typing import Callable

from catdog.errors import CatdogError


def run_stage(name: str, main: Callable[[], None]) -> None:
    try:
        main()
    except CatdogError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        sys.exit(1)
