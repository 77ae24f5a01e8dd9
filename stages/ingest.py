"""Stage ingest: photos -> labelled uint8 image stacks and a manifest (params: data)."""
from catdog.cli import run_stage
from catdog.dataset import IngestError, ingest, summary
from catdog.params import load_params
from catdog.storage import save_npz, text_arrays, write_csv

INTERIM = "data/interim"
MANIFEST = f"{INTERIM}/manifest.csv"


def main() -> None:
    try:
        manifest, splits = ingest(load_params().data)
    except IngestError as exc:
        if exc.manifest is not None:  # what became of every file is the way to the cause
            write_csv(MANIFEST, exc.manifest)
            print(summary(exc.manifest))
            raise IngestError(f"{exc} in {MANIFEST}") from None
        raise
    for name, split in splits.items():
        save_npz(f"{INTERIM}/{name}.npz", images=split.images, labels=split.labels,
                 **text_arrays("paths", split.paths))
    write_csv(MANIFEST, manifest)
    print(summary(manifest))


if __name__ == "__main__":
    run_stage("ingest", main)
