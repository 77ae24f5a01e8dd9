"""Running a command (a stage, or `python -m catdog predict`): user errors become one clear
line on stderr and exit status 1; Ctrl-C gives status 130 without a traceback."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from typing import Callable

from catdog.errors import CatdogError

_PR_SET_PDEATHSIG = 1  # prctl option, <linux/prctl.h>
_SHELLS = {"sh", "bash", "dash", "zsh", "fish"}  # what DVC may run a stage's command with
_stopping = False  # an interrupt is being handled: a second one must not cut that short


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
        global _stopping
        _stopping = True
        # Outputs are written atomically: what exists is complete, the rest was not started.
        print(f"{name}: interrupted; no output was left half-written", file=sys.stderr)
        return 130
    return 1


def _interrupt(signum: int, frame) -> None:
    if not _stopping:
        raise KeyboardInterrupt


def _is_dvc_or_shell(pid: int) -> bool:
    """Whether process `pid` is a `dvc` (or the shell running a stage's command for it)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return False
    names = {os.path.basename(a.decode(errors="replace")) for a in args[:3]}  # python -m dvc
    return "dvc" in names or bool(names & _SHELLS)


def end_with_parent() -> None:
    """Have Linux send SIGTERM to this process when the process that started it (the `dvc`
    running the stage) dies, even by `kill -9`: an orphaned stage would otherwise go on and
    later overwrite outputs that no longer match params.yaml or dvc.lock. SIGTERM stops the
    stage as Ctrl-C does, removing its temporary files."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    signal.signal(signal.SIGTERM, _interrupt)
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return  # not allowed here (a sandbox): the stage runs as before
    # The parent died before the request was made: between the two reads, or (DVC names the
    # stage in DVC_STAGE) before this process got here at all, leaving it to init.
    if os.getppid() != parent or ("DVC_STAGE" in os.environ and not _is_dvc_or_shell(parent)):
        raise KeyboardInterrupt


def run_stage(name: str, main: Callable[[], None]) -> None:
    def stage() -> None:
        end_with_parent()
        main()
    sys.exit(run_command(name, stage))
