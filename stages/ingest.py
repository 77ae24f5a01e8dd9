"""Stage ingest: photos -> labelled uint8 image stacks and a manifest (params: data)."""
import numpy as np

from catdog.cli import run_stage
from catdog.dataset import ingest, summary
from catdog.params import load_params
from catdog.storage import save_npz, write_csv

INTERIM = "data/interim"


def main() -> None:
    manifest, splits = ingest(load_params().data)
    for name, split in splits.items():
        save_npz(f"{INTERIM}/{name}.npz", images=split.images, labels=split.labels,
                 paths=np.array(split.paths, dtype=str))
    write_csv(f"{INTERIM}/manifest.csv", manifest)
    print(summary(manifest))


if __name__ == "__main__":
    run_stage("ingest", main)
