"""The whole `dvc repro` on a real photo set, as a user runs it: per-stage time and memory, disk.

    python benchmarks/pipeline_scale.py [--archive TAR_OR_ZIP] [--folder FOLDER]
                                        [--iterations N] [--baseline REV]

For each photo source (the archive, and the same photos unpacked in a folder) a fresh copy of
the project in a temporary git repository runs `dvc repro` with `data.train_dir` (and, for a
seeded split, `data.test_dir`) set to it and `train.iterations` set low (this is about the other
stages). The photos stay outside the repository, so DVC hashes them but does not store them.
Measured per stage:
  wall   seconds from DVC's "Running stage" line to the next one (or to the end): the stage's
         process plus DVC hashing and caching its outputs; for ingest, also DVC hashing the
         photos before it starts (the demo stage is run first, apart, so nothing else is in it);
  proc   seconds the stage's own Python process lived, and its peak RSS (both recorded by a
         `sitecustomize` hook that the stages' Python imports, catdog_dev.measure's;
         dvc.yaml is not changed);
then the bytes of `.dvc/cache` plus the workspace outputs (hard links counted once), the uint8
pixel bytes of the photos used, and how long `dvc status` takes afterwards.
`--baseline REV` runs the folder case once more on a checkout of REV (for example the commit
before this change) for comparison. Targets: ingest from the archive at least as fast as from
the folder; peak RSS of ingest and featurize <= 1.5x the pixel bytes + 200 MB; cache +
workspace <= 3x the pixel bytes; every stage but train <= 15 s.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from catdog_dev.measure import peak_records, with_peak_hook
from catdog_dev.repo import BIN, PROJECT, Repo

SHARED = PROJECT.parent / "shared" / "data"
OUTPUTS = ["data", "models", "metrics"]
MB = 1 << 20

def make_repo(root: Path, source: Path, photos: Path, iterations: int) -> Repo:
    """The project of `source` with the photos and `iterations` set; every Python process run
    in it reports its lifetime and peak memory to stage-stats.jsonl."""
    params = yaml.safe_load((source / "params.yaml").read_text())
    # A seeded split, written the way that checkout's params say it (same path, or empty).
    split = "" if params["data"]["test_dir"] in ("", None) else str(photos)
    repo = Repo.create(root, source, data={"train_dir": str(photos), "test_dir": split},
                       train={"iterations": iterations})
    repo.env = with_peak_hook(repo.env, root / "stage-stats.jsonl")
    return repo


def timed_repro(root: Path, env: dict) -> tuple[list[tuple[str, float]], float, float]:
    """Run `dvc repro`; (stage, time its line appeared) in order, the start and the end."""
    start = time.time()
    proc = subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=root, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    lines, marks = [], []
    for line in proc.stdout:
        lines.append(line)
        found = re.search(r"Running stage '([^']+)'", line)
        if found:
            marks.append((found.group(1), time.time()))
    if proc.wait() != 0:
        raise SystemExit("dvc repro failed:\n" + "".join(lines[-30:]))
    return marks, start, time.time()


def disk_bytes(root: Path) -> dict[str, int]:
    """Apparent bytes of .dvc/cache and the workspace outputs, each inode counted once, split
    into the synthetic demo photos (their workspace files and cached copies) and the rest."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    demo_dir = lock["stages"]["demo"]["outs"][0]["md5"]
    cache = root / ".dvc/cache/files/md5"
    listing = json.loads((cache / demo_dir[:2] / demo_dir[2:]).read_text())
    photo_objects = {cache / e["md5"][:2] / e["md5"][2:] for e in listing}
    seen: set[tuple[int, int]] = set()
    sizes = {"cache": 0, "workspace": 0, "demo photos": 0}
    for name in [".dvc/cache", *OUTPUTS]:
        for path in (root / name).rglob("*"):
            info = path.lstat()
            if not path.is_file() or path.is_symlink() or (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            if path in photo_objects or path.is_relative_to(root / "data/raw"):
                sizes["demo photos"] += info.st_size
            else:
                sizes["cache" if name == ".dvc/cache" else "workspace"] += info.st_size
    return sizes


def run_case(label: str, source: Path, photos: Path, iterations: int, work: Path) -> dict:
    root = work / label
    repo = make_repo(root, source, photos, iterations)
    env = repo.env
    repo.dvc("repro", "-q", "demo")
    (root / "stage-stats.jsonl").unlink(missing_ok=True)
    marks, start, end = timed_repro(root, env)
    # The stages' own processes: `python stages/<name>.py`, as dvc.yaml runs them.
    stats = {os.path.basename(s["argv"][0])[:-3]: s for s in peak_records(root / "stage-stats.jsonl")
             if s["argv"] and s["argv"][0].startswith("stages/")}
    rows = []
    for k, (stage, at) in enumerate(marks):
        until = marks[k + 1][1] if k + 1 < len(marks) else end
        since = start if k == 0 else at  # the first stage's wait includes DVC hashing its deps
        proc = stats.get(stage, {})
        rows.append({"stage": stage, "wall_s": until - since,
                     "proc_s": proc.get("end", 0) - proc.get("start", 0),
                     "peak_rss_mb": proc.get("peak_rss", 0) / MB})
    t0 = time.perf_counter()
    status = subprocess.run([str(BIN / "dvc"), "status"], cwd=root, env=env, capture_output=True,
                            text=True, stdin=subprocess.DEVNULL)
    status_s = time.perf_counter() - t0
    manifest = pd.read_csv(root / "data/interim/manifest.csv")
    size = yaml.safe_load((root / "params.yaml").read_text())["data"]["image_size"]
    used = int((manifest.status == "ok").sum())
    return {"label": label, "rows": rows, "repro_s": end - start, "status_s": status_s,
            "status": status.stdout.strip().splitlines()[-1:] or [""],
            "disk": disk_bytes(root), "used": used, "found": len(manifest),
            "pixel_bytes": used * size * size * 3}


def report(case: dict) -> None:
    pixels = case["pixel_bytes"]
    print(f"\n== {case['label']}: {case['found']} found, {case['used']} used; uint8 pixels "
          f"{pixels / MB:.0f} MB; dvc repro {case['repro_s']:.1f} s")
    print(f"{'stage':10s} {'wall s':>7s} {'proc s':>7s} {'peak RSS MB':>12s} {'RSS target MB':>14s}")
    for r in case["rows"]:
        target = f"{(1.5 * pixels + 200 * MB) / MB:.0f}" if r["stage"] in ("ingest", "featurize") else ""
        print(f"{r['stage']:10s} {r['wall_s']:7.1f} {r['proc_s']:7.1f} {r['peak_rss_mb']:12.0f} {target:>14s}")
    disk = case["disk"]
    total = disk["cache"] + disk["workspace"]
    print("disk (hard links once): " + ", ".join(f"{k} {v / MB:.0f} MB" for k, v in disk.items())
          + f"; cache + workspace without the photos {total / MB:.0f} MB = "
            f"{total / pixels:.2f}x the pixel bytes (target <= 3x)")
    print(f"dvc status afterwards: {case['status_s']:.1f} s ({case['status'][0]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", type=Path, default=SHARED / "dogs-vs-cats-21k-96px.tar")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/dogs-vs-cats-21k-96px"))
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--baseline", metavar="REV", help="also run the folder case on REV")
    parser.add_argument("--keep", action="store_true", help="keep the temporary repositories")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="catdog-scale-"))
    print(f"{os.cpu_count()} cores; archive {args.archive}; folder {args.folder}; "
          f"train.iterations {args.iterations}; work in {work}")
    try:
        cases = [run_case("archive", PROJECT, args.archive.resolve(), args.iterations, work),
                 run_case("folder", PROJECT, args.folder.resolve(), args.iterations, work)]
        if args.baseline:
            old = work / "baseline-src"
            subprocess.run(["git", "-C", str(PROJECT), "worktree", "add", "-q", "--detach",
                            str(old), args.baseline], check=True)
            try:
                cases.append(run_case(f"folder@{args.baseline}", old, args.folder.resolve(),
                                      args.iterations, work))
            finally:
                subprocess.run(["git", "-C", str(PROJECT), "worktree", "remove", "--force", str(old)])
        for case in cases:
            report(case)
        ingest = {c["label"]: next(r["wall_s"] for r in c["rows"] if r["stage"] == "ingest") for c in cases}
        print(f"\ningest from the archive vs the folder: {ingest['archive']:.1f} s vs "
              f"{ingest['folder']:.1f} s ({ingest['folder'] / ingest['archive']:.2f}x)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
