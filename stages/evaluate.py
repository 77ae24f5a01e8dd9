"""Stage evaluate: score the model on the test arrays (params: evaluate)."""
import pandas as pd

from catdog.cli import run_stage
from catdog.metrics import classification_metrics, roc_curve
from catdog.model import load_model
from catdog.params import load_params
from catdog.storage import load_npz, write_csv, write_json


def main() -> None:
    p = load_params().evaluate
    model = load_model("models/model.npz")
    test = load_npz("data/processed/test.npz")
    y, prob = test["Y"][0], model.probabilities(test["X"])
    metrics = classification_metrics(y, prob, p.threshold)
    fpr, tpr, _ = roc_curve(y, prob)
    names = list(model.label_names)
    write_json("metrics/evaluate.json", metrics)
    write_csv("metrics/roc.csv", pd.DataFrame({"fpr": fpr, "tpr": tpr}))
    write_csv("metrics/confusion.csv", pd.DataFrame({
        "actual": [names[int(v)] for v in y],
        "predicted": [names[int(v)] for v in prob > p.threshold],
    }))
    print(f"evaluate: test accuracy {metrics['accuracy']:.4f}, ROC AUC {metrics['roc_auc']:.4f} "
          f"on {metrics['n_examples']} photos")


if __name__ == "__main__":
    run_stage("evaluate", main)
