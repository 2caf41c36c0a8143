"""prometheus-client's multiprocess mode as ``serve --workers N`` sets it up: the directory,
one view over several processes' values, and dead workers' live gauges dropped."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from staffgraph.observability.multiprocess import ENV, prepare_metrics_dir

WORKER = textwrap.dedent(
    """
    from staffgraph.observability import metrics
    metrics.subscription_opened()
    metrics.signin("failure")
    """
)
SCRAPE = textwrap.dedent(
    """
    from staffgraph.observability import exposition
    print(exposition.render().decode())
    """
)


def run(code: str, directory: Path) -> str:
    env = {**os.environ, ENV: str(directory)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def line(text: str, prefix: str) -> str:
    return next(row for row in text.splitlines() if row.startswith(prefix))


def test_one_view_over_processes_without_the_dead_ones_live_gauges(tmp_path: Path) -> None:
    for _ in range(3):  # three workers that counted and then exited
        run(WORKER, tmp_path)
    text = run(SCRAPE, tmp_path)
    assert line(text, 'staffgraph_signins_total{outcome="failure"}').endswith(" 3.0")
    # the workers are gone: their subscriptions are no longer open
    assert line(text, "staffgraph_subscriptions_open ").endswith(" 0.0")
    assert not list(tmp_path.glob("gauge_livesum_*.db"))[1:]  # only the scraper's own


def test_serve_prepares_the_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(ENV, "")  # recorded, so that teardown restores the variable
    monkeypatch.delenv(ENV)
    assert prepare_metrics_dir(1) is None
    assert ENV not in os.environ
    made = prepare_metrics_dir(2)
    assert made is not None
    assert os.environ[ENV] == made
    assert Path(made).is_dir()
    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"stale")
    (given / "keep.txt").write_text("not ours")
    monkeypatch.setenv(ENV, str(given))
    assert prepare_metrics_dir(1) == str(given)
    assert [p.name for p in given.iterdir()] == ["keep.txt"]
