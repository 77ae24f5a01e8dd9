"""Running a command (a stage, or `python -m catdog predict`): user errors become one clear
line on stderr and exit status 1; Ctrl-C gives status 130 without a traceback."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import signal
import sys
import threading
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


def _names(pid: int) -> set[str]:
    """The program names in the first words of process `pid`'s command line (`python -m dvc`
    gives python, -m and dvc); empty if it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return set()
    return {os.path.basename(a.decode(errors="replace")) for a in args[:3]}


def _parent_of(pid: int) -> int:
    """Process `pid`'s parent, or 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _stop_when_ended(pidfd: int) -> None:
    select.select([pidfd], [], [])  # a process's pidfd turns readable when it ends
    os.kill(os.getpid(), signal.SIGTERM)


def end_with_parent() -> None:
    """Stop this stage (SIGTERM, handled as Ctrl-C is, removing temporary files) when the `dvc`
    running it dies, even by `kill -9`: an orphaned stage would otherwise go on and later
    overwrite outputs that no longer match params.yaml or dvc.lock.

    Linux signals the death of the direct parent (PR_SET_PDEATHSIG). DVC starts the command
    through $SHELL, and a shell that does not exec its last command (dash, the /bin/sh used
    where SHELL is unset) stays between the two: then the `dvc` above it is watched through a
    pidfd."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    signal.signal(signal.SIGTERM, _interrupt)
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return  # not allowed here (a sandbox): the stage runs as before
    if os.getppid() != parent:
        raise KeyboardInterrupt  # the parent died between the two reads
    if "DVC_STAGE" not in os.environ:
        return  # started by hand: the parent is the user's shell
    names = _names(parent)
    if "dvc" in names:
        return
    # DVC names the stage in DVC_STAGE: a parent that is neither dvc nor a shell it started
    # means the stage was orphaned before it got here, and left to init.
    dvc = _parent_of(parent)
    if names & _SHELLS and "dvc" in _names(dvc):
        try:
            pidfd = os.pidfd_open(dvc)
        except OSError:
            return  # no pidfds (Linux before 5.3): only the shell's death stops the stage
        if _parent_of(parent) == dvc:  # still: the pidfd is that dvc, not a reused number
            threading.Thread(target=_stop_when_ended, args=(pidfd,), daemon=True).start()
            return
    raise KeyboardInterrupt


def run_stage(name: str, main: Callable[[], None]) -> None:
    def stage() -> None:
        end_with_parent()
        main()
    sys.exit(run_command(name, stage))
