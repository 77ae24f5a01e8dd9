"""`python -m catdog plots [REV ...]`: DVC's plots as a page and images that need no network.

`dvc plots show` writes a page that loads the Vega libraries from a CDN, so it is blank
offline. This runs `dvc plots show` (or `dvc plots diff REV ...`) with an HTML template that
carries those libraries inline, and also writes each chart as an SVG image beside the page.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import vl_convert

# DVC's plot templates are written for Vega-Lite 5.
VEGA_LITE = "5.21"

# DVC fills {refresh_tag} and {plot_divs}; it adds its CDN <script> tags only where a
# template has {scripts}, which this one leaves out.
PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <script>(function () {
BUNDLE
})();
    // Charts drawn as SVG, not on a canvas: their titles and legends are text in the page.
    (function (embed) {
        window.vegaEmbed = function (el, spec, options) {
            return embed(el, spec, Object.assign({renderer: "svg"}, options));
        };
    })(window.vegaEmbed);</script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def offline_template() -> str:
    """An HTML page template for `dvc plots --html-template` holding Vega, Vega-Lite and
    Vega-Embed inline (the bundle sets window.vegaEmbed, which DVC's plot scripts call)."""
    return PAGE.replace("BUNDLE", vl_convert.javascript_bundle(vl_version=VEGA_LITE))


def image_name(plot_id: str) -> str:
    """A file name for a plot's title or path: 'ROC curve (test set)' -> 'roc-curve-test-set'."""
    return re.sub(r"[^a-z0-9]+", "-", plot_id.lower()).strip("-") or "plot"


def dvc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], capture_output=True, text=True)


def plots_verb(revisions: list[str]) -> list[str]:
    """`dvc plots show`, or `dvc plots diff REV ...` when revisions are named."""
    return ["plots", "diff", *revisions] if revisions else ["plots", "show"]


def write_images(revisions: list[str], out: Path) -> list[Path]:
    """Each Vega plot of `dvc plots show|diff --json` rendered to out/<name>.svg."""
    # --json copies the image plots again: into a scratch folder, as the page has them already.
    with tempfile.TemporaryDirectory() as scratch:
        proc = dvc(*plots_verb(revisions), "--json", "-o", scratch)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip())
    plots = json.loads(proc.stdout)
    written = []
    for plot_id, renders in plots.get("data", plots).items():
        for render in renders:
            if render.get("type") != "vega":
                continue
            path = out / f"{image_name(plot_id)}.svg"
            path.write_text(vl_convert.vegalite_to_svg(render["content"], vl_version=VEGA_LITE))
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="catdog plots",
        description="Write DVC's plots as a page that needs no network, and as SVG images.")
    parser.add_argument("revisions", nargs="*", metavar="REV",
                        help="compare these revisions (dvc plots diff); none: dvc plots show")
    parser.add_argument("-o", "--out", default="dvc_plots", help="folder to write (%(default)s)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "page.html"
        template.write_text(offline_template())
        proc = dvc(*plots_verb(args.revisions), "--html-template", str(template), "-o", str(out))
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        return proc.returncode
    try:
        images = write_images(args.revisions, out)
    except RuntimeError as exc:
        print(f"plots: error: {exc}", file=sys.stderr)
        return 1
    print(f"{out / 'index.html'} (no network needed) and {len(images)} SVG images in {out}{os.sep}")
    return 0
