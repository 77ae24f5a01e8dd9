"""dvc.yaml declares what each stage really uses."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from catdog.params import SECTIONS, TrainParams, result_keys

PROJECT = Path(__file__).resolve().parents[1]
DVC_YAML = yaml.safe_load((PROJECT / "dvc.yaml").read_text())
STAGES = DVC_YAML["stages"]


def catdog_modules(path: Path, seen: set[str] | None = None) -> set[str]:
    """src/catdog/*.py files that `path` imports, directly or through each other."""
    seen = set() if seen is None else seen
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            # `from catdog import exact` imports the module catdog.exact
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            module = PROJECT / "src" / (name.replace(".", "/") + ".py")
            rel = module.relative_to(PROJECT).as_posix()
            if name.startswith("catdog.") and module.exists() and rel not in seen:
                seen.add(rel)
                catdog_modules(module, seen)
    return seen


def params_read(script: Path) -> set[str]:
    """The params sections a stage script reads: `load_params().<section>`, or
    `<name>.<section>` after `<name> = load_params()`."""
    text = script.read_text()
    names = ["load_params\\(\\)", *re.findall(r"(\w+) = load_params\(\)$", text, re.M)]
    return {section for name in names for section in re.findall(rf"{name}\.(\w+)", text)}


@pytest.mark.parametrize("name", list(STAGES))
def test_each_stage_depends_on_its_script_and_every_module_it_imports(name):
    stage = STAGES[name]
    # A stage that multiplies matrices pins the BLAS kernel (see README, Reproducibility).
    script = re.fullmatch(r"python (stages/\w+\.py)",
                          stage["cmd"]).group(1)
    deps = set(stage["deps"])
    assert script in deps
    imported = catdog_modules(PROJECT / script)
    missing = imported - deps
    assert not missing, f"stage {name} imports {sorted(missing)} but does not list them as deps"
    unused = {d for d in deps if d.startswith("src/")} - imported
    assert not unused, f"stage {name} depends on {sorted(unused)} but never imports them"


@pytest.mark.parametrize("name", [name for name in STAGES if name != "check_params"])
def test_each_stage_declares_the_params_section_it_reads(name):
    declared = {p.split(".")[0] for p in STAGES[name].get("params", [])}
    assert params_read(PROJECT / f"stages/{name}.py") == declared


def every_result_key() -> list[str]:
    return [f"{name}.{key}" for name, cls in SECTIONS.items() for key in result_keys(cls)]


def test_settings_that_change_no_result_are_no_stages_dependency():
    """train.threads and data.workers change the speed only: no stage depends on them, so
    changing them leaves the pipeline up to date; every other key is someone's dependency."""
    declared = [p for stage in STAGES.values() for p in stage.get("params", [])]
    assert STAGES["train"]["params"] == [f"train.{k}" for k in result_keys(TrainParams)]
    assert "train.threads" not in every_result_key() and "data.workers" not in every_result_key()
    for key in ("train", "data", "train.threads", "data.workers"):
        assert key not in declared


def plot_files() -> dict[str, dict]:
    """Each plotted data file with the definition that plots it (images: {})."""
    files = {}
    for entry in DVC_YAML["plots"]:
        if isinstance(entry, str):
            files[entry] = {}
            continue
        (definition,) = entry.values()
        for path in definition["y"]:
            files[path] = definition
    return files


def test_metrics_and_plots_are_declared_and_kept_in_git():
    assert DVC_YAML["metrics"] == ["metrics/train.json", "metrics/evaluate.json",
                                   "metrics/predict.json"]
    plots = plot_files()
    assert plots["metrics/cost.csv"]["template"] == "by_set.json"
    assert plots["metrics/cost.csv"]["x"] == "iteration"
    assert plots["metrics/accuracy.csv"]["y"]["metrics/accuracy.csv"] == [
        "train", "validation", "test"]
    assert (plots["metrics/roc.csv"]["x"], plots["metrics/roc.csv"]["y"]) == ("fpr", {"metrics/roc.csv": "tpr"})
    assert plots["metrics/roc.csv"]["template"] == "simple"
    assert plots["metrics/pr.csv"]["x"] == "recall"
    assert plots["metrics/confusion.csv"]["template"] == "confusion_counts.json"
    for name, plot in plots.items():
        if plot:  # axis titles say what is counted, in which unit
            assert plot["x_label"] and plot["y_label"], name
            if plot["template"].endswith(".json"):
                assert (PROJECT / ".dvc/plots" / plot["template"]).is_file(), name
    assert "metrics/mistakes.png" in plots
    assert plots["metrics/predict_histogram.csv"]["x"] == "p_dog"
    uncached = {next(iter(o)) for s in STAGES.values() for o in s["outs"]
                if isinstance(o, dict) and next(iter(o.values())).get("cache") is False}
    assert set(plots) | set(DVC_YAML["metrics"]) <= uncached


def test_every_stage_waits_for_the_check_of_the_whole_params_file():
    check = STAGES["check_params"]
    assert check["params"] == every_result_key()
    assert check["outs"] == ["data/params.ok"]
    for name, stage in STAGES.items():
        if name != "check_params":
            assert "data/params.ok" in stage["deps"], name
