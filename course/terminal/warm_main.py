"""The warm runner's process: `python -m course.terminal.warm_main serve PATH` (started by `warm.start`).

It imports the course CLI, then serves tries with it (`warm.serve(path, cli.main)`), so that the runner
(`warm`) never imports the CLI that starts it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        # Through the package's modules, not a `__main__` copy: `warm.inside` must be the flag the CLI reads.
        from course.terminal import cli, warm

        warm.serve(Path(sys.argv[2]), cli.main)
        os._exit(0)  # nothing to tear down: the imports were all it held
