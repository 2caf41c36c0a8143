"""One metrics view over every ``serve --workers N`` process.

prometheus-client's multiprocess mode keeps each worker's values in files under
``PROMETHEUS_MULTIPROC_DIR``, which must be set before the client is imported in every worker:
``staffgraph serve`` calls :func:`prepare_metrics_dir` before it imports the app or spawns a
worker, and the workers inherit the variable. This module imports nothing of prometheus-client.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_dir(workers: int) -> str | None:
    """Set up the directory the workers share; the one in use, or None for a single process.

    A directory given in the environment is emptied (values left by an earlier run would be
    counted again); otherwise a private one is made for this run and removed when it exits.
    """
    given = os.environ.get(ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink(missing_ok=True)
        return str(directory)
    if workers < 2:
        return None  # one process: the client's ordinary in-memory values are the whole view
    made = tempfile.mkdtemp(prefix="staffgraph-metrics-")
    os.environ[ENV] = made
    atexit.register(shutil.rmtree, made, ignore_errors=True)
    return made
