"""`make help`, `make install REMOTE=...`, the `catdog` command, offline plots."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from catdog_dev.repo import BIN, PROJECT


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=PROJECT,
                          capture_output=True, text=True)


def test_make_help_lists_every_target_with_one_line():
    targets = set(re.findall(r"^([a-z][a-z-]*):", (PROJECT / "Makefile").read_text(), re.M))
    listed = {}
    for line in make("help").stdout.splitlines():
        target, description = re.fullmatch(r"  make (\S+)\s+(.+)", line).groups()
        listed[target] = description
    assert set(listed) == targets - {"check-remote"}
    assert {"install", "repro", "test", "sweep", "plots", "help"} <= set(listed)


@pytest.mark.parametrize("remote, plugins", [
    ("", []), ("s3", []), ("s3://bucket/catdog", []), ("/mnt/shared/dvc", []),
    ("gs", ["gs"]), ("gs://bucket/catdog", ["gs"]), ("ssh://host/srv/dvc", ["ssh"]),
    ("gs ssh", ["gs", "ssh"]),
])
def test_make_install_adds_the_plugin_of_the_remote_it_is_given(remote, plugins):
    plan = make("-n", "install", f"REMOTE={remote}")
    assert plan.returncode == 0, plan.stderr
    installed = re.findall(r"-r requirements-(\w+)\.txt", plan.stdout)
    # Dry runs from an installed .venv list only what is missing: compare with the stamps.
    expected = [k for k in plugins if not (PROJECT / f".venv/.installed-{k}").exists()]
    assert installed == expected
    for kind in plugins:
        assert (PROJECT / f"requirements-{kind}.txt").read_text().count(f"dvc-{kind}==") == 1


def test_make_install_refuses_a_remote_without_a_pinned_plugin():
    proc = make("install", "REMOTE=azure://container/catdog")
    assert proc.returncode != 0
    assert "no pinned DVC plugin for REMOTE kind 'azure'" in proc.stderr


def test_the_catdog_command_is_installed_beside_python_m_catdog():
    proc = subprocess.run([str(BIN / "catdog")], capture_output=True, text=True)
    assert proc.returncode == 2 and "predict PATH" in proc.stderr and "plots [REV" in proc.stderr
    help_text = subprocess.run([str(BIN / "catdog"), "predict", "--help"], capture_output=True,
                               text=True).stdout
    assert "--model" in help_text


def test_every_direct_dependency_is_pinned_for_make_install():
    def pins(name: str) -> set[str]:
        return {re.sub(r"\[.*\]", "", line).lower()
                for line in (PROJECT / name).read_text().splitlines() if "==" in line}
    assert pins("requirements.in") <= pins("requirements.txt")
    # What the tests run besides Python: the linters and the S3-compatible server.
    for tool in ("actionlint", "shellcheck", "dvc", "moto_server"):
        assert (BIN / tool).exists(), tool


@pytest.mark.pipeline
def test_plots_page_and_images_need_no_network(repo, tmp_path):
    work = repo.copy(tmp_path / "plots")
    proc = work.run(str(BIN / "catdog"), "plots")
    out = work.root / "dvc_plots"
    page = (out / "index.html").read_text()
    # Nothing is loaded from elsewhere: every <script> is inline, and it defines vegaEmbed.
    assert not re.search(r"<script[^>]*\bsrc=", page), "the page loads a script"
    assert "cdn.jsdelivr" not in page and "window.vegaEmbed=" in page
    assert page.count("vegaEmbed('#") >= 5
    svgs = sorted(p.name for p in out.glob("*.svg"))
    assert "training-cost.svg" in svgs and "roc-curve-test-set.svg" in svgs, svgs
    roc = (out / "roc-curve-test-set.svg").read_text()
    assert roc.startswith("<svg") and "<path" in roc
    assert len(list(out.rglob("*mistakes.png"))) == 1  # the page's copy, written once
    assert "no network needed" in proc.stdout
    # dvc_plots/ is ignored: `git add -A` leaves the tree clean.
    assert work.run("git", "status", "--porcelain").stdout == ""
