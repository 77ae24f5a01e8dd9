"""The training loop: epochs, batches, validation, keeping the best weights.

With the default settings this is the tutorial: full-batch gradient descent from
`randn * 0.01` weights on pixels / 255, one step per iteration. Every other choice (mini-
batches, momentum or Adam, a learning-rate schedule, weight decay, Xavier initialization,
standardized inputs, augmentation, a validation split with early stopping) is opt-in.

An iteration is an epoch: one pass over the training set, which is one step with the whole set
as the batch (batch_size 0) or ceil(m / batch_size) steps with mini-batches.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from tqdm import tqdm

from catdog.augment import Augmentation
from catdog.errors import CatdogError
from catdog.features import Examples
from catdog import exact as ex
from catdog.live import Heartbeat
from catdog.network import Parameters, initialize_parameters
from catdog.optimizers import learning_rate_at, make_optimizer
from catdog.parallel import Workers, blas_threads
from catdog.scaling import InputScaling, fit_scaling
from catdog.forward import Inputs, forward_logits
from catdog.params import TrainParams
from catdog.solvers import SOLVERS, Solver, choose_solver
from catdog.split import stratified_mask

# Called each time a point is recorded: (iteration, {"cost": ..., "train_accuracy": ..., ...}).
RecordCallback = Callable[[int, dict[str, float]], None]
SETS = ("train", "validation", "test")


class TrainingDiverged(CatdogError):
    """The cost stopped being a finite number; no model is written."""


@dataclass
class TrainResult:
    parameters: Parameters
    solver: str
    arithmetic: str = "exact"  # exact (the same bits on every machine) or fast
    scaling: InputScaling = field(default_factory=InputScaling)
    cost_iterations: list[int] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)
    # Metrics of the parameters of these iterations (before their update), when recorded.
    accuracy_iterations: list[int] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    validation_accuracy: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    # With a validation split: the recorded iteration whose weights are `parameters`.
    best_iteration: int | None = None
    iterations_run: int = 0


def accuracy_from_logits(Z2: np.ndarray, Y: np.ndarray) -> float:
    """Share of examples whose probability of dog, above or below 0.5, matches Y."""
    return float(np.mean((ex.sigmoid(Z2) > 0.5) == (np.asarray(Y) == 1)))


AUTO_EXACT_MAX = 1024  # up to here, exact Gram products need two float64 slices; beyond, three or more


def use_exact(arithmetic: str, examples: Examples) -> bool:
    """Whether `arithmetic` (train.arithmetic, checked by TrainParams) means exact products
    for these examples (pixels only)."""
    wanted = arithmetic == "exact" or (arithmetic == "auto" and examples.m <= AUTO_EXACT_MAX)
    return wanted and examples.rows.dtype == np.uint8


def cost_from_logits(Z2: np.ndarray, Y: np.ndarray) -> float:
    """Mean cross-entropy from the logits, the same bits on every machine."""
    Y = np.asarray(Y)
    return float(np.sum(ex.softplus(Z2) - Y * np.asarray(Z2, np.float64))) / Y.shape[1]


def _as_examples(X: np.ndarray | Examples) -> Examples:
    return X if isinstance(X, Examples) else Examples.from_columns(X)


def validation_split(Y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted positions (train, validation): round(fraction * n) of each class's n examples,
    by their own stream of the seed (not the test split's)."""
    held = stratified_mask(Y, fraction, np.random.default_rng([seed, 3]), keep_one=False)
    return np.flatnonzero(~held), np.flatnonzero(held)


def _subset(examples: Examples, index: np.ndarray) -> Examples:
    return Examples(examples.rows[index], examples.divisor)


def make_solver(settings: TrainParams, examples: Examples, Y: np.ndarray,
                held: dict[str, Examples], workers: Workers) -> tuple[Solver, InputScaling]:
    """The solver that runs `settings` on the training examples (Y (1, m)), with the held-out
    sets whose logits it will be asked for, and the input scaling fitted to the examples."""
    s = settings
    ftype = np.dtype(s.dtype)
    scaling = fit_scaling(s.input_scaling, examples)
    exact = use_exact(s.arithmetic, examples)
    parameters = initialize_parameters(examples.n_x, s.hidden_size, 1, s.seed, ftype, s.init)
    name = s.solver
    # Standardized inputs are not integers: their Gram matrix has no exact products.
    integers = s.input_scaling == "divide"
    if name == "auto":
        gram_ok = s.full_batch_gd(examples.m) and (integers or not exact)
        name = choose_solver(examples.m, examples.n_x, s.hidden_size, s.iterations) \
            if gram_ok else "blocked"
    exact = exact and (integers or name != "gram")
    inputs = {set_name: Inputs(x, scaling, ftype, exact) for set_name, x in held.items()}
    options = dict(batch_size=s.batch_size, optimizer=make_optimizer(s.optimizer, s.beta1, s.beta2),
                   weight_decay=s.weight_decay,
                   augmentation=Augmentation(s.augment_flip, s.augment_shift), seed=s.seed) \
        if name == "blocked" else {}
    solver = SOLVERS[name](Inputs(examples, scaling, ftype, exact), Y, parameters,
                           workers=workers, held_out=inputs, **options)
    return solver, scaling


def train(X: np.ndarray | Examples, Y: np.ndarray, settings: TrainParams = TrainParams(), *,
          X_test: np.ndarray | Examples | None = None, Y_test: np.ndarray | None = None,
          progress: bool = True, on_record: RecordCallback | None = None) -> TrainResult:
    """Train on X (n_x, m) -- or on `Examples` -- and Y (1, m); returns weights and curves.

    Iteration i (from 0) is an epoch; the cost recorded for it is the mean of its batches'
    costs, each taken before its update. Iterations 0, cost_every, 2 * cost_every, ... and the
    last record the cost; with a test set or a validation split, iterations 0, eval_every, ...
    and the last also record accuracy and log loss on each set, of the weights before that
    iteration's update. With validation_fraction > 0 a seeded, stratified share of the training
    examples is held out; the weights returned are those of the recorded iteration with the
    lowest validation log loss, and with patience > 0 training stops after that many records
    without improvement. `solver` picks how full-batch gradient descent runs (see
    `catdog.solvers`); `threads` (0 = one per core) changes the speed, never the result.
    `arithmetic` "exact" computes every product with the pixels exactly (`catdog.forward`): the
    same bits on every machine; "fast" uses the BLAS in `dtype`, faster on large sets; "auto" is
    exact up to AUTO_EXACT_MAX training examples and fast above.
    """
    examples = _as_examples(X)
    Y = np.asarray(Y).reshape(1, examples.m)
    held: dict[str, Examples] = {}
    labels: dict[str, np.ndarray] = {}
    if settings.validation_fraction > 0:
        keep, out = validation_split(Y, settings.validation_fraction, settings.seed)
        held["validation"], labels["validation"] = _subset(examples, out), Y[:, out]
        examples, Y = _subset(examples, keep), Y[:, keep]
    if X_test is not None:
        held["test"] = _as_examples(X_test)
        labels["test"] = np.asarray(Y_test).reshape(1, -1)
    workers = Workers(settings.threads)
    with blas_threads(1):  # all parallelism is in `workers`, over fixed chunks
        try:
            solver, scaling = make_solver(settings, examples, Y, held, workers)
            result = _loop(solver, Y, labels, settings, progress, on_record)
        finally:
            workers.close()
    result.scaling = scaling
    if not all(np.all(np.isfinite(p)) for p in result.parameters.values()):
        raise TrainingDiverged(
            f"training diverged: the weights are no longer finite; "
            f"lower train.learning_rate (now {settings.learning_rate})")
    return result


def _loop(solver: Solver, Y: np.ndarray, labels: dict[str, np.ndarray], settings: TrainParams,
          progress: bool, on_record: RecordCallback | None) -> TrainResult:
    s = settings
    result = TrainResult(parameters={}, solver=solver.name,
                         arithmetic="exact" if solver.exact else "fast")
    eval_every = s.eval_every if labels else 0
    validating = "validation" in labels
    best_loss, best, since_best = math.inf, None, 0
    bar = tqdm(range(s.iterations), desc=f"train ({solver.name})", unit="epoch",
               disable=None if progress else True)
    heartbeat = Heartbeat(s.iterations) if progress else None
    # Overflow shows up as a non-finite cost, reported below as divergence, not as warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for i in bar:
            last = i == s.iterations - 1
            evaluate = eval_every > 0 and (i % eval_every == 0 or last)
            point: dict[str, float] = {}
            if evaluate:
                wanted = list(labels) if solver.whole_batch else ["train", *labels]
                logits = {name: solver.logits(name) for name in wanted}
                snapshot = solver.snapshot() if validating else None
            lr = learning_rate_at(i, s.iterations, s.learning_rate, s.lr_schedule,
                                  s.lr_step_every, s.lr_step_factor)
            recorded = i % s.cost_every == 0 or last
            cost, Z2 = solver.step(lr, with_cost=recorded)
            skipped = not recorded and math.isnan(cost)  # finite exactly when the logits are
            if not (bool(np.all(np.isfinite(Z2))) if skipped else math.isfinite(cost)):
                raise TrainingDiverged(
                    f"training diverged at iteration {i} (cost {cost}); "
                    f"lower train.learning_rate (now {s.learning_rate})")
            if recorded:
                result.cost_iterations.append(i)
                result.costs.append(cost)
                point["cost"] = cost
                bar.set_postfix(cost=f"{cost:.6f}", refresh=False)
            if evaluate:
                if not solver.whole_batch:  # mini-batches or augmentation: its own forward pass
                    Z2 = logits["train"]
                _record(result, i, Y, Z2, logits, labels, point)
                if validating:
                    loss = point["validation_loss"]
                    if loss < best_loss:
                        best_loss, best, since_best = loss, (i, snapshot), 0
                    else:
                        since_best += 1
            if on_record is not None and point:
                on_record(i, point)
            result.iterations_run = i + 1
            if heartbeat is not None:  # the latest recorded cost
                heartbeat(i + 1, result.costs[-1] if result.costs else cost)
            if validating and s.patience and since_best >= s.patience:
                break
        final = solver.snapshot()
    if best is not None:
        result.best_iteration, final = best
    result.parameters = solver.parameters_of(final)
    return result


def _record(result: TrainResult, i: int, Y: np.ndarray, Z2: np.ndarray | None,
            logits: dict[str, np.ndarray], labels: dict[str, np.ndarray], point: dict) -> None:
    result.accuracy_iterations.append(i)
    sets = {"train": (Z2, Y), **{name: (logits[name], labels[name]) for name in labels}}
    for name, (Z, y) in sets.items():
        accuracy, loss = accuracy_from_logits(Z, y), cost_from_logits(Z, y)
        getattr(result, f"{name}_accuracy").append(accuracy)
        getattr(result, f"{name}_loss").append(loss)
        point[f"{name}_accuracy"], point[f"{name}_loss"] = accuracy, loss


def training_metrics(parameters: Parameters, X: np.ndarray | Examples, Y: np.ndarray,
                     threads: int = 0, scaling: InputScaling | None = None) -> dict:
    """Cost and accuracy of the trained parameters on the data they were trained on."""
    examples = _as_examples(X)
    dtype = parameters["W1"].dtype
    Y = np.asarray(Y, dtype=dtype).reshape(1, examples.m)
    workers = Workers(threads)
    try:
        with blas_threads(1):
            Z2 = forward_logits(parameters, Inputs(examples, scaling or InputScaling(), dtype,
                                                   exact=True), workers)
    finally:
        workers.close()
    return {
        "final_cost": cost_from_logits(Z2, Y),
        "accuracy": accuracy_from_logits(Z2, Y),
        "n_examples": examples.m,
    }
