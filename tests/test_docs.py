"""Every command block of README.md and docs/*.md runs, and the output a page shows is real.

The convention (docs/index.md, "How these pages are checked"):
- ```console: lines starting with `$ ` are commands (a trailing backslash continues one); the
  lines after a command are what it prints -- abridged, so the shown lines must appear in this
  order, `...` alone on a line stands for lines left out, and `…` inside a line for any text.
- ```sh: a script, run with `set -e`; ```python: run with the project's Python.
- ```text and ```yaml are shown, not run. A fence with no language is refused.
- `<!-- not run: REASON -->` on the line before a block skips it; the reason is required.
Each page runs top to bottom in its own copy of the project after a full `dvc repro`.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from catdog_dev.repo import PROJECT, Repo

PAGES = ["README.md", *sorted(p.relative_to(PROJECT).as_posix() for p in (PROJECT / "docs").glob("*.md"))]
RUN = {"console", "sh", "python"}
SHOWN = {"text", "yaml"}
BLOCK = re.compile(r"(?:<!-- not run: (?P<skip>[^\n]*?) -->\n)?^```(?P<lang>[^\n`]*)\n(?P<body>.*?)^```$",
                   re.S | re.M)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def blocks(page: str) -> list[dict]:
    return [m.groupdict() for m in BLOCK.finditer((PROJECT / page).read_text())]


def console_steps(body: str) -> list[tuple[str, list[str]]]:
    """(command, shown output lines) for each `$ ` command of a console block."""
    steps: list[tuple[str, list[str]]] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        assert line.startswith("$ "), f"console output before any command: {line!r}"
        command = line[2:]
        while command.endswith("\\"):
            i += 1
            command = command[:-1] + "\n" + lines[i]
        i += 1
        shown = []
        while i < len(lines) and not lines[i].startswith("$ "):
            shown.append(lines[i])
            i += 1
        steps.append((command, shown))
    return steps


def matches(expected: str, actual: str) -> bool:
    if "…" in expected:
        pattern = ".*".join(re.escape(part) for part in expected.split("…"))
        return re.fullmatch(pattern, actual) is not None
    return expected == actual


def assert_shown(shown: list[str], output: str, command: str) -> None:
    """The shown lines appear in the output, in order (lines may be left out between them)."""
    actual = [ANSI.sub("", line).rstrip() for line in output.splitlines()]
    position = 0
    for line in (s.rstrip() for s in shown):
        if line in ("", "..."):
            continue
        found = next((k for k in range(position, len(actual)) if matches(line, actual[k])), None)
        assert found is not None, f"`{command}` did not print {line!r}; it printed:\n{output}"
        position = found + 1


@pytest.fixture(scope="module")
def cloned(tmp_path_factory) -> Repo:
    """The project as a fresh clone has it (every file Git tracks, as in this working copy):
    no data, model or DVC cache yet."""
    root = tmp_path_factory.mktemp("docs") / "project"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=PROJECT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split("\0")):
        src, dst = PROJECT / name, root / name
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)  # with its time: make finds the environment up to date
    # The project's environment as the copy's .venv.
    (root / ".venv").symlink_to(PROJECT / ".venv")
    repo = Repo(root)
    repo.run("git", "init", "-q", "-b", "main")
    repo.commit("as cloned")
    return repo


@pytest.fixture(scope="module")
def reproduced(cloned, tmp_path_factory) -> Repo:
    """A clone after a full `dvc repro` of the default params."""
    repo = cloned.copy(tmp_path_factory.mktemp("docs") / "project")
    repo.dvc("repro")
    repo.commit("reproduced")
    return repo


def run(repo: Repo, command: str) -> subprocess.CompletedProcess:
    env = {**repo.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{repo.env['PATH']}"}
    return subprocess.run(["bash", "-c", f"set -o pipefail\n{command}"], cwd=repo.root, env=env,
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)


def test_every_block_says_what_it_is_and_why_it_is_not_run():
    for page in PAGES:
        for block in blocks(page):
            assert block["lang"] in RUN | SHOWN, f"{page}: a ```{block['lang']} block"
            if block["skip"] is not None:
                assert block["lang"] in RUN and len(block["skip"]) > 10, f"{page}: {block}"
    readme = (PROJECT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for page in PAGES[1:]:  # every page of the manual is linked from the README
        assert f"({page})" in readme, page
    modules = {p.stem for p in (PROJECT / "src/catdog").glob("*.py")} - {"__init__", "__main__"}
    listed = set(re.findall(r"^\| `catdog\.(\w+)` \|", readme, re.M))
    assert listed == modules, f"the README's module table: missing {modules - listed}, extra {listed - modules}"


@pytest.mark.pipeline
@pytest.mark.parametrize("page", PAGES)
def test_the_commands_of_a_page_run_and_print_what_it_shows(page, request, tmp_path):
    runnable = [b for b in blocks(page) if b["lang"] in RUN and b["skip"] is None]
    if not runnable:
        pytest.skip(f"{page} has no command to run")
    # The README starts where a newcomer does; the manual, after the first run.
    start = request.getfixturevalue("cloned" if page == "README.md" else "reproduced")
    work = start.copy(tmp_path / "work")
    for block in runnable:
        if block["lang"] == "console":
            for command, shown in console_steps(block["body"]):
                proc = run(work, command)
                output = proc.stdout + proc.stderr
                if not shown:  # nothing shown: it must simply work
                    assert proc.returncode == 0, f"{page}: `{command}` failed:\n{output}"
                assert_shown(shown, output, command)
        else:
            script = block["body"] if block["lang"] == "sh" else \
                f"python - <<'CATDOG_DOCS_EOF'\n{block['body']}CATDOG_DOCS_EOF\n"
            proc = run(work, "set -e\n" + script)
            assert proc.returncode == 0, f"{page}: block failed:\n{block['body']}\n{proc.stdout}{proc.stderr}"
