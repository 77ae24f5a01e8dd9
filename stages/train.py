"""Stage train: fit the network on the training arrays (params: train)."""
import time

import pandas as pd

from catdog.cli import run_stage
from catdog.features import load_split
from catdog.model import Model, save_model
from catdog.params import load_params
from catdog.storage import write_csv, write_json
from catdog.training import train, training_metrics


def main() -> None:
    p = load_params().train
    examples, Y, image_size = load_split("data/processed/train.npz")
    test_examples, Y_test, _ = load_split("data/processed/test.npz")
    start = time.perf_counter()
    result = train(examples, Y, p.hidden_size, p.learning_rate, p.iterations, p.seed, p.dtype,
                   p.cost_every, solver=p.solver, threads=p.threads,
                   X_test=test_examples, Y_test=Y_test, eval_every=p.eval_every)
    seconds = time.perf_counter() - start
    metrics = {**training_metrics(result.parameters, examples, Y, p.threads),
               "iterations": p.iterations, "solver": result.solver}
    save_model("models/model.npz", Model(result.parameters, image_size=image_size))
    write_json("metrics/train.json", metrics)
    write_csv("metrics/cost.csv", pd.DataFrame({"iteration": result.cost_iterations,
                                                "cost": result.costs}))
    write_csv("metrics/accuracy.csv", pd.DataFrame({"iteration": result.accuracy_iterations,
                                                    "train": result.train_accuracy,
                                                    "test": result.test_accuracy}))
    print(f"train: {p.iterations} iterations ({result.solver} solver) in {seconds:.2f} s "
          f"({1000 * seconds / p.iterations:.2f} ms per iteration); "
          f"final cost {metrics['final_cost']:.6f}, train accuracy {metrics['accuracy']:.4f}")


if __name__ == "__main__":
    run_stage("train", main)
