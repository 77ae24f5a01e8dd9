"""Stage train: fit the network on the training arrays (params: train)."""
import time

import pandas as pd

from catdog.cli import run_stage
from catdog.features import load_split
from catdog.live import Progress
from catdog.model import Model, save_model
from catdog.params import load_params
from catdog.storage import write_csv, write_json
from catdog.training import TrainResult, train, training_metrics


def curves(result: TrainResult, kind: str) -> pd.DataFrame:
    """One row per recorded iteration: `kind` (accuracy or loss) on each set; the validation
    column stays empty without a validation split (so the plots' columns never change)."""
    columns = {"iteration": result.accuracy_iterations}
    for name in ("train", "validation", "test"):
        values = getattr(result, f"{name}_{kind}")
        columns[name] = values if values else [None] * len(result.accuracy_iterations)
    return pd.DataFrame(columns)


def main() -> None:
    p = load_params().train
    examples, Y, image_size = load_split("data/processed/train.npz")
    test_examples, Y_test, _ = load_split("data/processed/test.npz")
    start = time.perf_counter()
    progress = Progress()
    result = train(examples, Y, p, X_test=test_examples, Y_test=Y_test,
                   on_record=progress)
    progress.finish()
    seconds = time.perf_counter() - start
    metrics = {**training_metrics(result.parameters, examples, Y, p.threads, result.scaling),
               "iterations": result.iterations_run, "solver": result.solver,
               "arithmetic": result.arithmetic,
               # 0 for a settled curve; an oscillating one rises again and again
               "cost_rises": sum(b > a for a, b in zip(result.costs, result.costs[1:]))}
    if result.best_iteration is not None:
        best = result.accuracy_iterations.index(result.best_iteration)
        metrics.update(best_iteration=result.best_iteration,
                       validation_loss=result.validation_loss[best],
                       validation_accuracy=result.validation_accuracy[best])
    save_model("models/model.npz", Model(result.parameters, image_size, result.scaling))
    write_json("metrics/train.json", metrics)
    write_csv("metrics/cost.csv", pd.DataFrame({"iteration": result.cost_iterations,
                                                "cost": result.costs}))
    write_csv("metrics/accuracy.csv", curves(result, "accuracy"))
    write_csv("metrics/loss.csv", curves(result, "loss"))
    print(f"train: {result.iterations_run} iterations ({result.solver} solver) in {seconds:.2f} s "
          f"({1000 * seconds / result.iterations_run:.2f} ms per iteration); "
          f"final cost {metrics['final_cost']:.6f}, train accuracy {metrics['accuracy']:.4f}"
          + (f"; best validation loss at iteration {result.best_iteration}"
             if result.best_iteration is not None else ""))


if __name__ == "__main__":
    run_stage("train", main)
