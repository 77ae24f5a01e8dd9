"""Stage evaluate: score the model on the test split (params: evaluate)."""
import pandas as pd

from catdog.cli import run_stage
from catdog.features import read_features
from catdog.gallery import encode_png, mistakes_grid
from catdog.metrics import classification_metrics, precision_recall_curve, roc_curve
from catdog.model import load_model
from catdog.params import load_params
from catdog.storage import write_bytes, write_csv, write_json


def main() -> None:
    p = load_params().evaluate
    model = load_model("models/model.npz")
    test = read_features("data/processed/test.npz")
    y = test.Y[0]
    prob = model.probabilities_of_images(test.images(), p.flip_average)
    names = list(model.label_names)
    metrics = classification_metrics(y, prob, p.threshold)
    if p.flip_average:  # recorded only when used, so the tutorial's metrics stay as they were
        metrics["flip_average"] = True
    fpr, tpr, _ = roc_curve(y, prob)
    recall, precision = precision_recall_curve(y, prob)
    write_json("metrics/evaluate.json", metrics)
    write_csv("metrics/roc.csv", pd.DataFrame({"fpr": fpr, "tpr": tpr}))
    write_csv("metrics/pr.csv", pd.DataFrame({"recall": recall, "precision": precision}))
    write_csv("metrics/confusion.csv", pd.DataFrame({
        "path": test.paths,
        "actual": [names[int(v)] for v in y],
        "predicted": [names[int(v)] for v in prob > p.threshold],
        "p_dog": prob,
    }))
    grid = mistakes_grid(test.images(), y, prob, model.label_names, p.threshold)
    write_bytes("metrics/mistakes.png", encode_png(grid))
    print(f"evaluate: test accuracy {metrics['accuracy']:.4f}, ROC AUC {metrics['roc_auc']:.4f} "
          f"on {metrics['n_examples']} photos")


if __name__ == "__main__":
    run_stage("evaluate", main)
