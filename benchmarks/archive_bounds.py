"""Hostile archives against their bounds, each built here in a temporary folder.

    python benchmarks/archive_bounds.py [--mb N]

(a) read once: ingest of a .tar.gz holding N MB of random bytes (not a photo) before 16 small
    photos, against the baseline of decompressing the same file once with `gzip`; the ratio
    of times, and of bytes read from disk (/proc/self/io), is about 1 when each byte is
    decompressed once. (b) a GNU long-name header declaring 1 GiB, its body really there
    (about 1 MB of gzip): time to the refusal and peak memory, against ingest of the same
    photos without it. (c) a member declaring 100 GiB: time to the refusal. Peak memory is
    measured in a child process per case. Nothing here is part of the test suite.
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from catdog_dev.measure import run_child

MB = 1 << 20
CHILD = """
import json, sys, time
from pathlib import Path
from catdog.dataset import ingest
from catdog.params import DataParams
def rchar():
    return int(dict(l.split(': ') for l in Path('/proc/self/io').read_text().splitlines())['rchar'])
path = sys.argv[1]
params = DataParams(train_dir=path, test_dir=path, image_size=32, workers=1)
before, start = rchar(), time.perf_counter()
try:
    manifest, _ = ingest(params, progress=False)
    result = f"{(manifest.status == 'ok').sum()} photos"
except Exception as exc:
    result = f"refused: {exc}"
print(json.dumps({"seconds": time.perf_counter() - start, "read": rchar() - before,
                  "result": result}))
"""


def write_archive(path: Path, before: list[tuple[tarfile.TarInfo, io.IOBase | None]]) -> Path:
    rng = np.random.default_rng(0)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as t:
            for info, data in before:
                if info.type == tarfile.GNUTYPE_LONGNAME:  # tarfile writes no bare long-name header
                    gz.write(info.tobuf(tarfile.GNU_FORMAT))
                    for _ in range(info.size // MB):
                        gz.write(b"a" * MB)
                    t.offset += tarfile.BLOCKSIZE + info.size
                else:
                    t.addfile(info, data)
            for i in range(16):
                ok, data = cv2.imencode(".jpg", rng.integers(0, 256, (60, 80, 3), dtype=np.uint8))
                info = tarfile.TarInfo(f"{('cat', 'dog')[i % 2]}.{i}.jpg")
                info.size = len(data)
                t.addfile(info, io.BytesIO(data.tobytes()))
    return path


def child(path: Path) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    run = run_child([sys.executable, "-c", CHILD, str(path)], env=env)
    return {**json.loads(run.stdout.splitlines()[-1]), "rss_mb": run.peak_rss / MB}


def info(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    i = tarfile.TarInfo(name)
    i.type, i.size = kind, size
    return i


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=256, help="random bytes before the photos (a)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plain = child(write_archive(tmp / "plain.tar.gz", []))

        noise = write_archive(tmp / "noise.tar.gz",
                              [(info("noise.bin", args.mb * MB), io.BytesIO(os.urandom(args.mb * MB)))])
        start = time.perf_counter()
        with gzip.open(noise) as f:
            while f.read(MB):
                pass
        once = time.perf_counter() - start
        read = child(noise)
        size = noise.stat().st_size
        print(f"(a) {args.mb} MB before the photos, {size / MB:.0f} MB archive: ingest "
              f"{read['seconds']:.2f} s vs one gzip pass {once:.2f} s (ratio "
              f"{read['seconds'] / once:.2f}); read from disk {read['read'] / size:.2f} x the "
              f"archive; {read['result']}")

        bomb = write_archive(tmp / "header.tar.gz", [(info("././@LongLink", 1024 * MB,
                                                           tarfile.GNUTYPE_LONGNAME), None)])
        got = child(bomb)
        print(f"(b) 1 GiB long-name header, {bomb.stat().st_size / MB:.1f} MB archive: "
              f"{got['seconds']:.3f} s, peak RSS {got['rss_mb']:.0f} MB vs {plain['rss_mb']:.0f} MB "
              f"for the photos alone; {got['result'][:100]}")

        huge = tmp / "huge.tar.gz"
        huge.write_bytes(gzip.compress(info("zeros.bin", 100 << 30).tobuf(tarfile.GNU_FORMAT)))
        got = child(huge)
        print(f"(c) member declaring 100 GiB: {got['seconds']:.3f} s; {got['result'][:110]}")


if __name__ == "__main__":
    main()
