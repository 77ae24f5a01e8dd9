"""Stage predict: classify predict.photos with the model (params: predict, evaluate, data).

Writes predictions/predictions.csv (path, label, p_dog), and predictions/submission.csv (Kaggle's
id,label) when every photo is named by number; metrics/predict.json and a histogram of the
probabilities let `dvc metrics diff` and `dvc plots diff` compare two models' predictions.
"""
import os

import numpy as np
import pandas as pd

from catdog.cli import run_stage
from catdog.dataset import archive_limits, image_limits
from catdog.model import load_model
from catdog.params import load_params
from catdog.predict import PredictError, classify, report, submission
from catdog.storage import write_csv, write_json

PREDICTIONS = "predictions/predictions.csv"
SUBMISSION = "predictions/submission.csv"
BINS = 10  # histogram of p_dog: [0, 0.1), ..., [0.9, 1]


def main() -> None:
    params = load_params()
    photos, evaluate, data = params.predict.photos, params.evaluate, params.data
    if not os.path.exists(photos):
        raise PredictError(f"predict.photos: {photos!r} does not exist (name a folder, photo "
                           f"or archive of photos to classify)")
    model = load_model("models/model.npz")
    result = classify(model, [photos], evaluate.threshold, evaluate.flip_average, data.workers,
                      image_limits(data), data.fast_decode,
                      bounds=archive_limits(data))
    for line in report(result):
        print(line)
    written = [PREDICTIONS]
    write_csv(PREDICTIONS, result.frame)
    try:
        kaggle = submission(result) if len(result.frame) else None
    except PredictError as exc:
        kaggle = None
        print(f"predict: no {SUBMISSION}: {exc}")
    if kaggle is not None:
        write_csv(SUBMISSION, kaggle)
        written.append(SUBMISSION)
    elif os.path.exists(SUBMISSION):  # a run by hand outside DVC: never leave an old one
        os.remove(SUBMISSION)
    p_dog = result.frame.p_dog.to_numpy()
    dogs = int(np.sum(p_dog > evaluate.threshold))
    metrics = {"photos": len(p_dog), "dogs": dogs, "cats": len(p_dog) - dogs,
               "skipped": len(result.failures), "mean_p_dog": float(np.mean(p_dog)) if len(p_dog) else 0.0,
               "threshold": evaluate.threshold}
    if evaluate.flip_average:
        metrics["flip_average"] = True
    write_json("metrics/predict.json", metrics)
    counts, edges = np.histogram(p_dog, bins=BINS, range=(0.0, 1.0))
    write_csv("metrics/predict_histogram.csv",
              pd.DataFrame({"p_dog": np.round(edges[:-1] + 0.5 / BINS, 2), "photos": counts}))
    print(f"predict: {len(p_dog)} photos in {photos}: {dogs} dogs, {len(p_dog) - dogs} cats "
          f"(threshold {evaluate.threshold}); wrote {', '.join(written)}")


if __name__ == "__main__":
    run_stage("predict", main)
