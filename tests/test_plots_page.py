"""`make plots` as a reader sees it: the offline page rendered by headless Chromium."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from catdog_dev.repo import PROJECT

pytestmark = pytest.mark.pipeline

BLUE, GREEN, RED = "#1f77b4", "#2ca02c", "#d62728"  # train, validation, test (.dvc/plots/by_set.json)


def chromium() -> str:
    found = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    assert found, "chromium is needed to render the plots page: apt-get install chromium (.ci/run does)"
    return found


def browse(page: Path, tmp_path: Path, *how: str) -> subprocess.CompletedProcess:
    """Headless Chromium on a local page, its scripts given time to draw the charts."""
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000", *how,
         page.as_uri()], capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def page(repo, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("plots") / "dvc_plots"
    repo.run("python", "-m", "catdog", "plots", "-o", str(out))
    tmp = out.parent
    dom = browse(out / "index.html", tmp, "--dump-dom").stdout
    shot = tmp / "page.png"
    browse(out / "index.html", tmp, "--window-size=1300,2400", f"--screenshot={shot}")
    return {"out": out, "dom": dom, "shot": shot}


def chart(dom: str, title: str) -> str:
    """The SVG of one chart of the page, found by its title."""
    start = dom.index(f"<svg")
    charts = dom[start:].split("<svg")
    (svg,) = [c for c in charts if f">{title}</text>" in c]
    return svg


def line_colours(svg: str) -> list[str]:
    marks = re.findall(r'class="mark-line role-mark[^"]*"[^>]*>(.*?)</g>', svg, re.S)
    return [c for m in marks for c in re.findall(r'stroke="(#[0-9a-f]{6})"', m)]


def test_the_page_is_drawn_offline_with_legends_and_axis_titles(page):
    dom = page["dom"]
    assert dom.count("<svg") >= 6, "the charts were not drawn"
    accuracy = chart(dom, "Accuracy during training")
    # One colour per set; no validation split here, so no validation line at all.
    assert sorted(line_colours(accuracy)) == sorted([BLUE, RED])
    assert "legend titled 'set'" in accuracy
    for title in ("Training cost", "Log loss during training", "Accuracy during training"):
        assert ">epoch</text>" in chart(dom, title)
    assert "nats" in chart(dom, "Training cost") and "rate" in chart(dom, "ROC curve (test set)")


def test_the_confusion_matrix_shows_its_counts(page, repo):
    svg = chart(page["dom"], "Confusion matrix (test set)")
    rows = pd.read_csv(repo.root / "metrics/confusion.csv")
    expected = sorted(pd.crosstab(rows.actual, rows.predicted).to_numpy().ravel().tolist())
    texts = re.findall(r'class="mark-text role-mark[^"]*"[^>]*>(.*?)</g>', svg, re.S)
    shown = sorted(int(n) for t in texts for n in re.findall(r">(\d+)</text>", t))
    assert shown == expected and sum(shown) == len(rows)


def test_the_screenshot_is_not_blank(page):
    image = cv2.imread(str(page["shot"]))
    assert image is not None and image.shape[:2] == (2400, 1300)
    inked = np.any(image < 200, axis=2).mean()
    colours = len(np.unique(image.reshape(-1, 3)[::97], axis=0))
    assert inked > 0.03 and colours > 50, (inked, colours)


def test_each_image_is_written_once(page):
    files = [p.relative_to(page["out"]).as_posix() for p in page["out"].rglob("*") if p.is_file()]
    assert sum(f.endswith(".png") for f in files) == 1, files
    charts = [p for p in yaml.safe_load((PROJECT / "dvc.yaml").read_text())["plots"]
              if isinstance(p, dict)]
    assert sum(f.endswith(".svg") for f in files) == len(charts) > 0, files
