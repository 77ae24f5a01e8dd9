"""Stage check_params: check the whole params.yaml before any other stage runs.

Every other stage depends on this stage's output, and this stage on every key of the file but
those that change no result (train.threads, data.workers), so `dvc repro` stops here, before
DVC removes any other stage's outputs, on a bad value, an unknown key, photos of which none
carries a label (those are for predict) or a demo folder that must not be replaced. The
output's content never changes: a params change reruns only the stages that read the changed
value.
"""
import os

from catdog.cli import run_stage
from catdog.dataset import require_labelled
from catdog.params import load_params, read_yaml
from catdog.storage import write_text
from catdog.synthetic import require_demo_folder

OUTPUT = "data/params.ok"


def locked_demo_folders() -> set[str]:
    """The folders dvc.lock records as the demo stage's output: DVC replaces those itself."""
    if not os.path.exists("dvc.lock"):
        return set()
    outs = (read_yaml("dvc.lock") or {}).get("stages", {}).get("demo", {}).get("outs", [])
    return {os.path.normpath(out["path"]) for out in outs}


def main() -> None:
    params = load_params()
    if os.path.normpath(params.demo.out_dir) not in locked_demo_folders():
        require_demo_folder(params.demo.out_dir)
    require_labelled(params.data)
    write_text(OUTPUT, "params.yaml passed every check of catdog.params\n")
    print("check_params: params.yaml is valid")


if __name__ == "__main__":
    run_stage("check_params", main)
