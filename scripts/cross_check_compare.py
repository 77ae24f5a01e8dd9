"""Compare the stage outputs of two copies of the repository, the way DVC hashes them.

    cross_check_compare.py HOST_COPY TARGET_COPY STAGE... [--committed DVC_LOCK]

The host copy's dvc.lock (from `dvc repro`) names the outputs; the target copy's (from
`dvc commit` after the target ran the stage scripts) gives their hashes for the comparison
with --committed. One line per stage output: `same` or `DIFFERENT` against the host's files
and, with --committed, against the committed dvc.lock; a different
output is followed by what differs in it (which files of a folder, whether a PNG or JPEG
decodes to the same pixels, which arrays of an .npz, the first differing line of a text
file). Exits 1 when anything differs.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np
from ruamel.yaml import YAML

SHOWN = 5  # differing files named per folder


def lock_outs(lock: Path) -> dict[str, dict[str, str]]:
    """stage -> output path -> md5 as dvc.lock records it."""
    stages = (YAML(typ="safe").load(lock.read_text()) or {}).get("stages", {})
    return {name: {out["path"]: out.get("md5", "") for out in stage.get("outs", [])}
            for name, stage in stages.items()}


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def image_detail(a: Path, b: Path) -> str:
    pa = cv2.imdecode(np.fromfile(a, np.uint8), cv2.IMREAD_UNCHANGED)
    pb = cv2.imdecode(np.fromfile(b, np.uint8), cv2.IMREAD_UNCHANGED)
    if pa is None or pb is None or pa.shape != pb.shape:
        return "bytes differ; does not decode to the same shape"
    if np.array_equal(pa, pb):
        return f"bytes differ ({a.stat().st_size} vs {b.stat().st_size} bytes), decoded pixels same"
    changed = np.count_nonzero(pa != pb)
    return (f"bytes differ, decoded pixels DIFFER ({changed} of {pa.size} values, "
            f"max |diff| {int(np.abs(pa.astype(int) - pb).max())})")


def npz_detail(a: Path, b: Path) -> str:
    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        parts = []
        for key in sorted(set(za.files) | set(zb.files)):
            if key not in za.files or key not in zb.files:
                parts.append(f"{key} only in one")
            elif za[key].dtype != zb[key].dtype or za[key].shape != zb[key].shape:
                parts.append(f"{key} other dtype/shape")
            elif za[key].tobytes() != zb[key].tobytes():
                x, y = za[key], zb[key]
                if x.dtype.kind == "f":
                    rel = np.max(np.abs(x - y) / np.maximum(np.abs(x), np.finfo(x.dtype).tiny))
                    parts.append(f"{key} ({np.count_nonzero(x != y)} of {x.size} values, "
                                 f"max relative diff {rel:.1e})")
                else:
                    parts.append(f"{key} ({np.count_nonzero(x != y)} of {x.size} values)")
        return "arrays differ: " + ", ".join(parts) if parts else container_detail(a, b)


def container_detail(a: Path, b: Path) -> str:
    """Equal arrays in unequal .npz files: where the zip container differs."""
    x, y = a.read_bytes(), b.read_bytes()
    at = next((i for i in range(min(len(x), len(y))) if x[i] != y[i]), min(len(x), len(y)))
    field = ""
    if x[at - 4:at] == b"PK\x03\x04":  # a local file header's first field
        field = (f": a zip entry's 'version needed to extract', {x[at]} vs {y[at]} (Python releases'"
                 f" zipfile modules write the ZIP64 entries NumPy forces differently)")
    return f"arrays same; the zip container differs from byte {at}{field}"


def text_detail(a: Path, b: Path) -> str:
    la, lb = a.read_text().splitlines(), b.read_text().splitlines()
    differing = [i for i in range(max(len(la), len(lb)))
                 if i >= len(la) or i >= len(lb) or la[i] != lb[i]]
    if not differing:
        return "bytes differ, lines same (line endings or the last newline)"
    first = differing[0]
    pick = lambda lines: lines[first] if first < len(lines) else "<none>"  # noqa: E731
    return (f"{len(differing)} of {max(len(la), len(lb))} lines differ; first, line {first + 1}: "
            f"{pick(la)[:70]!r} vs {pick(lb)[:70]!r}")


def file_detail(a: Path, b: Path) -> str:
    if not b.exists():
        return "missing in the target"
    suffix = a.suffix.lower()
    if suffix in (".png", ".jpg", ".jpeg"):
        return image_detail(a, b)
    if suffix == ".npz":
        return npz_detail(a, b)
    if suffix in (".csv", ".json", ".yaml", ".ok", ".txt"):
        return text_detail(a, b)
    return "bytes differ"


def differing_files(a: Path, b: Path) -> tuple[list[Path], list[Path]]:
    """All file names under either folder, and those whose bytes differ (or exist once)."""
    names = sorted({p.relative_to(a) for p in a.rglob("*") if p.is_file()}
                   | {p.relative_to(b) for p in b.rglob("*") if p.is_file()})
    return names, [n for n in names if not (a / n).is_file() or not (b / n).is_file()
                   or md5(a / n) != md5(b / n)]


def same_output(a: Path, b: Path) -> bool:
    if a.is_dir() and b.is_dir():
        return not differing_files(a, b)[1]
    return a.is_file() and b.is_file() and md5(a) == md5(b)


def folder_detail(a: Path, b: Path) -> list[str]:
    if not b.is_dir():
        return ["missing in the target"]
    names, differing = differing_files(a, b)
    lines = [f"{len(differing)} of {len(names)} files differ"]
    by_suffix: dict[str, int] = {}
    for n in differing:
        by_suffix[n.suffix.lower()] = by_suffix.get(n.suffix.lower(), 0) + 1
    if differing:
        lines[0] += " (" + ", ".join(f"{k or 'no suffix'}: {v}" for k, v in sorted(by_suffix.items())) + ")"
        undecodable = same_pixels = 0
        for n in differing:
            if (a / n).exists() and (b / n).exists() and n.suffix.lower() in (".png", ".jpg", ".jpeg"):
                detail = image_detail(a / n, b / n)
                same_pixels += detail.endswith("pixels same")
                undecodable += "DIFFER" in detail or "shape" in detail
        if same_pixels or undecodable:
            lines.append(f"images: {same_pixels} decode to the same pixels, {undecodable} do not")
        for n in differing[:SHOWN]:
            lines.append(f"{n}: {file_detail(a / n, b / n)}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("stages", nargs="+")
    parser.add_argument("--committed", type=Path, help="the committed dvc.lock (full runs only)")
    args = parser.parse_args()
    host, target = lock_outs(args.host / "dvc.lock"), lock_outs(args.target / "dvc.lock")
    committed = lock_outs(args.committed) if args.committed else None
    header = f"{'stage':<13} {'output':<32} {'vs host':<10}" + (" vs dvc.lock" if committed else "")
    print(header)
    different = False
    for stage in args.stages:
        for path, host_md5 in host.get(stage, {}).items():
            target_md5 = target.get(stage, {}).get(path)
            a, b = args.host / path, args.target / path
            same = same_output(a, b)
            line = f"{stage:<13} {path:<32} {'same' if same else 'DIFFERENT':<10}"
            if committed is not None:
                locked = committed.get(stage, {}).get(path)
                line += " same" if target_md5 == locked else " DIFFERENT"
                different |= target_md5 != locked
                if host_md5 != locked:
                    line += " (the host's own run differs from dvc.lock too)"
            different |= not same
            print(line)
            if not same:
                details = (folder_detail(a, b) if a.is_dir() else [file_detail(a, b)])
                for detail in details:
                    print(f"{'':<14}  {detail}")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
