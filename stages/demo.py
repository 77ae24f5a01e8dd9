"""Stage demo: draw the synthetic cat/dog photo set (params: demo)."""
from catdog.cli import run_stage
from catdog.params import load_params
from catdog.synthetic import generate_demo


def main() -> None:
    demo = load_params().demo
    written = generate_demo(demo.out_dir, demo.n_images, demo.seed)
    print(f"demo: wrote {len(written)} synthetic photos to {demo.out_dir}")


if __name__ == "__main__":
    run_stage("demo", main)
