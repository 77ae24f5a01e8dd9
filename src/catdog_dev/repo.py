"""A copy of the project in a temporary git repository, driven by the real `dvc` and `git`."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ["dvc.yaml", "params.yaml", ".dvcignore", ".gitignore", ".dvc/config",
                 ".dvc/.gitignore", ".dvc/plots", "stages", "src/catdog"]
BIN = Path(sys.executable).parent

# Params small enough for seconds per run, large enough for every stage to have real work.
SMALL = {
    "demo": {"n_images": 40, "seed": 3},
    "train": {"iterations": 60, "cost_every": 7},
}


class Repo:
    def __init__(self, root: Path):
        self.root = root
        self.env = {
            **os.environ,
            # Stage commands run `python`: this environment's, importing the copy's own code.
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(root / "src"),
            "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
            "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
            "DVC_NO_ANALYTICS": "1",
        }

    @classmethod
    def create(cls, root: Path, source: Path = PROJECT, **param_changes: dict) -> "Repo":
        """The project's files from `source` (this checkout, or a checkout of another revision)
        in a new git repository at `root`, `param_changes` applied, committed."""
        root.mkdir(parents=True)
        for name in PROJECT_FILES:
            src, dst = source / name, root / name
            if source != PROJECT and not src.exists():
                continue  # an older revision may lack a file added since
            if src.is_dir():
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
        repo = cls(root)
        repo.set_params(**param_changes)
        repo.run("git", "init", "-q", "-b", "main")
        repo.commit("project")
        return repo

    def refresh_code(self) -> None:
        """This checkout's stage scripts and library in place of the copy's (a copy kept from
        an earlier run for its data must still run the code being measured)."""
        for name in ("stages", "src/catdog"):
            shutil.rmtree(self.root / name)
            shutil.copytree(PROJECT / name, self.root / name,
                            ignore=shutil.ignore_patterns("__pycache__"))

    def copy(self, root: Path) -> "Repo":
        shutil.copytree(self.root, root, symlinks=True)
        return Repo(root)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(args, cwd=self.root, env=self.env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "dvc"), *args, check=check)

    def repro(self, *args: str, check: bool = True) -> tuple[list[str], subprocess.CompletedProcess]:
        """Run `dvc repro`; return the names of the stages that ran."""
        proc = self.dvc("repro", *args, check=check)
        return re.findall(r"Running stage '([^']+)'", proc.stdout), proc

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "--allow-empty", "-m", message)

    def set_params(self, **sections: dict) -> None:
        path = self.root / "params.yaml"
        params = yaml.safe_load(path.read_text())
        for section, values in sections.items():
            params[section].update(values)
        path.write_text(yaml.safe_dump(params, sort_keys=False))

    def digest(self, *relative: str) -> dict[str, str]:
        """md5 of each named file, and of each file under a named folder."""
        out = {}
        for name in relative:
            path = self.root / name
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for f in files:
                out[f.relative_to(self.root).as_posix()] = hashlib.md5(f.read_bytes()).hexdigest()
        return out
