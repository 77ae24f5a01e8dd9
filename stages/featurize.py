"""Stage featurize: image stacks -> X (n_x, m) uint8 pixels with their scale 1/255, Y (1, m)."""
from catdog.cli import run_stage
from catdog.features import save_features
from catdog.params import load_params
from catdog.storage import load_npz, texts_from


def main() -> None:
    load_params()  # this stage has no params of its own; still refuse a bad params.yaml early
    for name in ("train", "test"):
        stack = load_npz(f"data/interim/{name}.npz")
        save_features(f"data/processed/{name}.npz", stack["images"], stack["labels"],
                      texts_from(stack, "paths"))
        m, s = stack["images"].shape[:2]
        print(f"featurize: {name}: X ({s * s * 3}, {m}) uint8, Y (1, {m})")


if __name__ == "__main__":
    run_stage("featurize", main)
