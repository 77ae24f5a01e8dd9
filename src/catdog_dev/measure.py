"""Time and peak memory of child processes, measured the same way by every benchmark.

A child's peak resident memory is its own VmHWM, read by the child as it exits: a
`sitecustomize` module put on the child's PYTHONPATH appends one JSON line per Python process
to the file named by CATDOG_PEAK_FILE. (The ru_maxrss that wait4 or getrusage report is no
use here: a process started by vfork and exec keeps its parent's peak, so a small child of a
big parent would report the parent's.) Only Python children report themselves.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
PEAK_FILE = "CATDOG_PEAK_FILE"
HOOK = '''
import atexit, os, sys, time
_started = time.time()
if os.environ.get("CATDOG_PEAK_FILE"):
    def _report():
        import json
        with open("/proc/self/status") as status:
            peak = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmHWM:"))
        with open(os.environ["CATDOG_PEAK_FILE"], "a") as out:
            out.write(json.dumps({"pid": os.getpid(), "argv": sys.argv, "start": _started,
                                  "end": time.time(), "peak_rss": peak}) + "\\n")
    atexit.register(_report)
'''
_hook_dir: Path | None = None


def with_peak_hook(env: dict[str, str], peak_file: Path) -> dict[str, str]:
    """`env` in which every Python process appends its peak memory and lifetime to `peak_file`
    as it exits (read them with `peak_records`)."""
    global _hook_dir
    if _hook_dir is None:
        _hook_dir = Path(tempfile.mkdtemp(prefix="catdog-peak-hook-"))
        (_hook_dir / "sitecustomize.py").write_text(HOOK)
        atexit.register(shutil.rmtree, _hook_dir, ignore_errors=True)
    path = os.pathsep.join(filter(None, [str(_hook_dir), env.get("PYTHONPATH", "")]))
    return {**env, "PYTHONPATH": path, PEAK_FILE: str(peak_file)}


def peak_records(peak_file: Path) -> list[dict]:
    """What the Python processes run with `with_peak_hook` reported: pid, argv, start and end
    (epoch seconds), peak_rss (bytes); one per process, in the order they exited."""
    if not peak_file.exists():
        return []
    return [json.loads(line) for line in peak_file.read_text().splitlines()]


@dataclass(frozen=True)
class ChildRun:
    seconds: float          # wall time, start-up included
    cpu_seconds: float      # user + system, its own and its waited-for children's
    peak_rss: int | None    # bytes, its own peak; None when the child is not Python
    stdout: str
    stderr: str
    returncode: int


def run_child(cmd: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
              check: bool = True) -> ChildRun:
    """Run `cmd` to its end, its output kept; its wall and CPU time and its own peak memory."""
    with tempfile.TemporaryDirectory(prefix="catdog-child-") as tmp:
        peak_file = Path(tmp) / "peak.jsonl"
        child_env = with_peak_hook(dict(os.environ if env is None else env), peak_file)
        with open(Path(tmp) / "out", "w+") as out, open(Path(tmp) / "err", "w+") as err:
            start = time.perf_counter()
            proc = subprocess.Popen(list(cmd), cwd=cwd, env=child_env, stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, text=True)
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        peak = next((r["peak_rss"] for r in peak_records(peak_file) if r["pid"] == proc.pid), None)
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{stdout}{stderr}")
    return ChildRun(seconds, usage.ru_utime + usage.ru_stime, peak, stdout, stderr,
                    proc.returncode)


def best_of(repeat: int, fn: Callable[[], T]) -> tuple[float, T]:
    """The shortest of `repeat` timed calls of `fn`, and the last call's result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result
