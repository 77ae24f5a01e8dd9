"""Stage featurize: image stacks -> X (n_x, m) in [0, 1] and Y (1, m)."""
import numpy as np

from catdog.cli import run_stage
from catdog.features import flatten
from catdog.params import load_params
from catdog.storage import load_npz, save_npz


def main() -> None:
    load_params()  # this stage has no params of its own; still refuse a bad params.yaml early
    for name in ("train", "test"):
        stack = load_npz(f"data/interim/{name}.npz")
        X, Y = flatten(stack["images"], stack["labels"])
        save_npz(f"data/processed/{name}.npz", X=X, Y=Y,
                 image_size=np.array(stack["images"].shape[1]))
        print(f"featurize: {name}: X {X.shape}, Y {Y.shape}")


if __name__ == "__main__":
    run_stage("featurize", main)
