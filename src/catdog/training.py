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
from catdog.solvers import BlockedSolver, DirectSolver, GramSolver, Solver, choose_solver

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
    """Whether `arithmetic` means exact products for these examples (pixels only)."""
    if arithmetic not in ("auto", "exact", "fast"):
        raise ValueError(f"unknown arithmetic {arithmetic!r}; expected auto, exact or fast")
    wanted = arithmetic == "exact" or (arithmetic == "auto" and examples.m <= AUTO_EXACT_MAX)
    return wanted and examples.rows.dtype == np.uint8


def cost_from_logits(Z2: np.ndarray, Y: np.ndarray) -> float:
    """Mean cross-entropy from the logits, the same bits on every machine."""
    Y = np.asarray(Y)
    return float(np.sum(ex.softplus(Z2) - Y * np.asarray(Z2, np.float64))) / Y.shape[1]


def _as_examples(X: np.ndarray | Examples) -> Examples:
    return X if isinstance(X, Examples) else Examples.from_columns(X)


def validation_split(Y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted positions (train, validation): a seeded share `fraction` of each class."""
    y = np.asarray(Y).reshape(-1)
    rng = np.random.default_rng([seed, 3])
    held = []
    for label in (0, 1):
        members = np.flatnonzero(y == label)
        n = int(round(fraction * len(members)))
        held.append(rng.permutation(members)[:n])
    validation = np.sort(np.concatenate(held))
    return np.setdiff1d(np.arange(len(y)), validation), validation


def _subset(examples: Examples, index: np.ndarray) -> Examples:
    return Examples(examples.rows[index], examples.divisor)


def train(X: np.ndarray | Examples, Y: np.ndarray, *, hidden_size: int, learning_rate: float,
          iterations: int, seed: int, dtype: str = "float32", cost_every: int = 1,
          eval_every: int = 0, solver: str = "auto", threads: int = 0,
          batch_size: int = 0, optimizer: str = "gd", beta1: float = 0.9, beta2: float = 0.999,
          lr_schedule: str = "constant", lr_step_every: int = 1, lr_step_factor: float = 0.1,
          weight_decay: float = 0.0, init: str = "tutorial", input_scaling: str = "divide",
          augment_flip: bool = False, augment_shift: int = 0,
          validation_fraction: float = 0.0, patience: int = 0, arithmetic: str = "auto",
          X_test: np.ndarray | Examples | None = None, Y_test: np.ndarray | None = None,
          progress: bool = True, on_record: RecordCallback | None = None) -> TrainResult:
    """Train on X (n_x, m) -- or on `Examples` -- and Y (1, m); returns weights and curves.

    Iteration i (from 0) is an epoch; the cost recorded for it is the mean of its batches'
    costs, each taken before its update. Iterations 0, cost_every, 2 * cost_every, ... and the
    last record the cost; with a test set or a validation split and eval_every > 0, iterations
    0, eval_every, ... and the last also record accuracy and log loss on each set, of the
    weights before that iteration's update. With validation_fraction > 0 a seeded, stratified
    share of the training examples is held out; the weights returned are those of the recorded
    iteration with the lowest validation log loss, and with patience > 0 training stops after
    that many records without improvement. `solver` picks how full-batch gradient descent runs
    (see `catdog.solvers`); `threads` (0 = one per core) changes the speed, never the result.
    `arithmetic` "exact" computes every product with the pixels exactly (`catdog.forward`): the
    same bits on every machine; "fast" uses the BLAS in `dtype`, faster on large sets; "auto" is
    exact up to AUTO_EXACT_MAX training examples and fast above.
    """
    examples = _as_examples(X)
    Y = np.asarray(Y).reshape(1, examples.m)
    ftype = np.dtype(dtype)
    held: dict[str, Examples] = {}
    labels: dict[str, np.ndarray] = {}
    if validation_fraction > 0:
        keep, out = validation_split(Y, validation_fraction, seed)
        held["validation"], labels["validation"] = _subset(examples, out), Y[:, out]
        examples, Y = _subset(examples, keep), Y[:, keep]
    if X_test is not None and eval_every > 0:
        held["test"] = _as_examples(X_test)
        labels["test"] = np.asarray(Y_test).reshape(1, -1)
    track = bool(held) and eval_every > 0
    scaling = fit_scaling(input_scaling, examples)
    exact = use_exact(arithmetic, examples)
    inputs = {name: Inputs(x, scaling, ftype, exact) for name, x in held.items()}
    parameters = initialize_parameters(examples.n_x, hidden_size, 1, seed, ftype, init)
    plain = (batch_size == 0 or batch_size >= examples.m) and optimizer == "gd" \
        and weight_decay == 0 and not augment_flip and augment_shift == 0
    if solver == "auto":
        # Standardized inputs have no exact Gram matrix
        solver = choose_solver(examples.m, examples.n_x, hidden_size, iterations) \
            if plain and not (exact and input_scaling != "divide") else "blocked"
    workers = Workers(threads)
    train_inputs = Inputs(examples, scaling, ftype, exact)
    with blas_threads(1):  # all parallelism is in `workers`, over fixed chunks
        if solver == "blocked":
            chosen: Solver = BlockedSolver(
                train_inputs, Y, parameters, workers=workers, held_out=inputs,
                batch_size=batch_size, optimizer=make_optimizer(optimizer, beta1, beta2),
                weight_decay=weight_decay, augmentation=Augmentation(augment_flip, augment_shift),
                seed=seed)
        else:
            chosen = {"gram": GramSolver, "direct": DirectSolver}[solver](
                train_inputs, Y, parameters, workers=workers, held_out=inputs)
        try:
            result = _loop(chosen, Y, labels, iterations, learning_rate, cost_every,
                           eval_every if track else 0, progress, on_record, patience,
                           dict(schedule=lr_schedule, step_every=lr_step_every,
                                step_factor=lr_step_factor))
        finally:
            workers.close()
    result.scaling = scaling
    if not all(np.all(np.isfinite(p)) for p in result.parameters.values()):
        raise TrainingDiverged(
            f"training diverged: the weights are no longer finite; "
            f"lower train.learning_rate (now {learning_rate})")
    return result


def _loop(solver: Solver, Y: np.ndarray, labels: dict[str, np.ndarray], iterations: int,
          learning_rate: float, cost_every: int, eval_every: int, progress: bool,
          on_record: RecordCallback | None, patience: int, schedule: dict) -> TrainResult:
    result = TrainResult(parameters={}, solver=solver.name,
                         arithmetic="exact" if solver.exact else "fast")
    validating = "validation" in labels
    best_loss, best, since_best = math.inf, None, 0
    bar = tqdm(range(iterations), desc=f"train ({solver.name})", unit="epoch",
               disable=None if progress else True)
    heartbeat = Heartbeat(iterations) if progress else None
    # Overflow shows up as a non-finite cost, reported below as divergence, not as warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for i in bar:
            last = i == iterations - 1
            evaluate = eval_every > 0 and (i % eval_every == 0 or last)
            point: dict[str, float] = {}
            if evaluate:
                wanted = list(labels) if solver.whole_batch else ["train", *labels]
                logits = {name: solver.logits(name) for name in wanted}
                snapshot = solver.snapshot() if validating else None
            lr = learning_rate_at(i, iterations, learning_rate, **schedule)
            recorded = i % cost_every == 0 or last
            cost, Z2 = solver.step(lr, with_cost=recorded)
            skipped = not recorded and math.isnan(cost)  # finite exactly when the logits are
            if not (bool(np.all(np.isfinite(Z2))) if skipped else math.isfinite(cost)):
                raise TrainingDiverged(
                    f"training diverged at iteration {i} (cost {cost}); "
                    f"lower train.learning_rate (now {learning_rate})")
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
            if validating and patience and since_best >= patience:
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
