"""Paired runs: two (or more) versions of staffgraph on one pinned core at the same time.

Each version is a git revision (its ``src`` exported with ``git archive``) or ``work`` (this
checkout's ``src`` as it is now), optionally with settings of its own (``REV@NAME=VALUE,...``)
and a query of its own (``REV#QUERY``, else ``--query``).
Every version gets its own database (SQLite, or a new PostgreSQL database) seeded with
``throughput.py``'s organisation and its own ``staffgraph serve`` pinned to core 0; in each
round one wrk per version (``-c32``, pinned to core 1) drives all of them at once, so that
whatever else the shared machine does in that round slows them alike. The figure is each
version's CPU time per request in the same round, and its ratio to the first version's; the
versions run in the opposite order of start every other round.

    .venv/bin/python bench/paired.py HEAD~1 work [--query me] [--db sqlite|postgres]
        [--rounds 4] [--duration 6]
    .venv/bin/python bench/paired.py work work@STAFFGRAPH_LOG_LEVEL=WARNING --query me
    .venv/bin/python bench/paired.py work#page-hr work#page-manager --db postgres

Queries: those of ``throughput.py`` (``me``, ``page-hr``, ``page-manager``). Two servers share
the core, so each costs more per request than alone (context switches, caches); the ratio
between them is the figure, not the absolute CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import throughput  # noqa: E402

#: settings of the version being started, on top of throughput.py's production settings
_extra: dict[str, str] = {}
_production_env = throughput.staffgraph_env
throughput.staffgraph_env = lambda url: {**_production_env(url), **_extra}


def export(revision: str, into: Path) -> Path:
    """The ``src`` directory of ``revision`` (``work``: this checkout's, as it is)."""
    if revision == "work":
        return ROOT / "src"
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "src"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "versions", nargs="+", help="REV, REV@NAME=VALUE,NAME=VALUE, either with #QUERY"
    )
    parser.add_argument("--query", default="me", choices=sorted(throughput.QUERIES))
    parser.add_argument("--db", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=int, default=6)
    args = parser.parse_args()
    #: server name -> (document, viewer)
    asked: dict[str, tuple[str, str]] = {}
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="paired-")))
        servers = []
        for index, version in enumerate(args.versions):
            rest, _, query = version.partition("#")
            revision, _, settings = rest.partition("@")
            if (query or args.query) not in throughput.QUERIES:
                raise SystemExit(f"no query {query!r}: {', '.join(throughput.QUERIES)}")
            _extra.clear()
            for setting in filter(None, settings.split(",")):
                name, _, value = setting.partition("=")
                _extra[name] = value
            os.environ["PYTHONPATH"] = str(export(revision, work / f"tree{index}"))
            if args.db == "sqlite":
                url = f"sqlite://{work}/db{index}.sqlite3"
            else:
                url = stack.enter_context(throughput.postgres_database(args.postgres))
                if url is None:
                    raise SystemExit("PostgreSQL does not answer")
            name = f"#{index + 1} {version}".replace("/", "_")  # also its log file's name
            server = throughput.start_staffgraph(stack, name, url, work)
            asked[server.name] = throughput.QUERIES[query or args.query]
            throughput.check_answer(server, *asked[server.name])
            servers.append(server)
        os.environ.pop("PYTHONPATH")
        figures: dict[str, list[throughput.Figure]] = {s.name: [] for s in servers}
        for round_ in range(args.rounds):
            order = servers if round_ % 2 == 0 else servers[::-1]
            with ThreadPoolExecutor(len(order)) as pool:
                runs = {
                    s.name: pool.submit(throughput.run_wrk, s, *asked[s.name], args.duration, 32)
                    for s in order
                }
            first = runs[servers[0].name].result()
            for server in servers:
                figure = runs[server.name].result()
                figures[server.name].append(figure)
                print(
                    f"round {round_ + 1} {server.name}: {figure.rps:.0f} req/s, "
                    f"{figure.cpu_ms:.3f} ms CPU ({figure.cpu_ms / first.cpu_ms:.3f} of the "
                    f"first), p99 {figure.p99_ms:.0f} ms",
                    flush=True,
                )
        base = figures[servers[0].name]
        queries = dict.fromkeys(v.partition("#")[2] or args.query for v in args.versions)
        print(f"\n{', '.join(queries)} on {args.db}, {args.rounds} rounds of {args.duration} s:")
        for server in servers:
            mine = figures[server.name]
            ratios = [m.cpu_ms / b.cpu_ms for m, b in zip(mine, base, strict=True)]
            cheaper = sum(r < 1 for r in ratios)
            cpu = statistics.median(m.cpu_ms for m in mine)
            print(
                f"  {server.name}: CPU per request median {cpu:.3f} ms, "
                f"ratio to the first median {statistics.median(ratios):.3f} "
                f"(cheaper in {cheaper} of {len(ratios)} rounds), "
                f"p99 median {statistics.median(m.p99_ms for m in mine):.0f} ms"
            )


if __name__ == "__main__":
    main()
