"""Print `name==version` for every installed distribution the pipeline's stages import.

Run by scripts/cross_check.sh with the project's own Python, in a scratch Git repository (DVCLive
imports more of DVC inside one), so the emulated interpreter gets the same pinned versions
and nothing the stages do not need. The list is worked out from the imports, so it follows the
code: a stage that starts importing another package gets it without a change here.
"""
from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import sys
from contextlib import redirect_stdout
from pathlib import Path

def import_what_stages_use(repo: str) -> None:
    for script in sorted(Path(repo, "stages").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"stage_{script.stem}", script)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    # The train stage records its progress through DVCLive, which loads DVC's repository code.
    from catdog.live import Progress
    Progress()(1, {"cost": 1.0})


def main(repo: str) -> None:
    with redirect_stdout(sys.stderr):  # DVC's messages are not requirements
        import_what_stages_use(repo)
    providers = metadata.packages_distributions()
    names = {dist for module in list(sys.modules) for dist in providers.get(module.split(".")[0], [])}
    names.discard("catdog")  # the copy's own source goes on PYTHONPATH
    for name in sorted(names, key=str.lower):
        print(f"{name}=={metadata.version(name)}")


if __name__ == "__main__":
    main(sys.argv[1])
