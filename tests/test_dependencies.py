"""The dependency lock: consistent with pyproject.toml, used by the image, reviewable.

``scripts/check_lock`` runs offline (CI runs it too); ``scripts/outdated`` asks the package
index, so its test skips when the index does not answer.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PYPROJECT = """
[project]
name = "x"
dependencies = ["starlette>=1.10.0", "uvicorn[standard]>=0.54.0", "pywin32>=1; os_name == 'nt'"]
"""
HASH = "    --hash=sha256:" + "a" * 64


def check_lock(tmp_path: Path, pyproject: str, lock: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    (tmp_path / "requirements.lock").write_text(lock, encoding="utf-8")
    files = (
        "--pyproject",
        str(tmp_path / "pyproject.toml"),
        "--lock",
        str(tmp_path / "requirements.lock"),
    )
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_lock"), *files],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_lock_is_consistent_with_pyproject() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_lock")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_a_lock_that_drifted_from_pyproject_fails(tmp_path: Path) -> None:
    good = f"starlette==1.10.0 \\\n{HASH}\n    # via x\nuvicorn==0.54.0 \\\n{HASH}\n"
    assert check_lock(tmp_path, PYPROJECT, good).returncode == 0
    missing = f"starlette==1.10.0 \\\n{HASH}\n"
    result = check_lock(tmp_path, PYPROJECT, missing)
    assert result.returncode == 1
    assert "uvicorn: not pinned in the lock" in result.stderr
    too_old = good.replace("starlette==1.10.0", "starlette==0.46.0")
    result = check_lock(tmp_path, PYPROJECT, too_old)
    assert result.returncode == 1
    assert "starlette: the lock pins 0.46.0" in result.stderr
    unhashed = "starlette==1.10.0\nuvicorn==0.54.0 \\\n" + HASH + "\n"
    result = check_lock(tmp_path, PYPROJECT, unhashed)
    assert result.returncode == 1
    assert "starlette==1.10.0: no --hash" in result.stderr
    assert "pip-compile" in result.stderr  # the command that refreshes it


def test_the_image_installs_from_the_lock_with_hashes() -> None:
    instructions = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    runs = [line for line in instructions if line.startswith("RUN ")]
    locked = next(
        i for i, line in enumerate(runs) if "--require-hashes -r requirements.lock" in line
    )
    package = next(i for i, line in enumerate(runs) if re.search(r"pip install --no-deps \.", line))
    assert locked < package
    assert any(line.startswith("COPY ") and "requirements.lock" in line for line in instructions)
    assert "requirements.lock" not in (ROOT / ".dockerignore").read_text(encoding="utf-8").split()


def test_dependabot_watches_pip_npm_and_docker() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    assert config["version"] == 2
    watched = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    assert {("pip", "/"), ("npm", "/clients"), ("docker", "/")} <= watched
    assert ("npm", "/src/staffgraph/graphiql") in watched
    assert all(u["schedule"]["interval"] for u in config["updates"])


@pytest.mark.slow
def test_outdated_lists_an_old_pin_and_the_refresh_command(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"idna==2.0 \\\n{HASH}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "outdated"), "--lock", str(lock)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode == 2:
        pytest.skip(f"the package index did not answer: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^idna 2\.0 -> \d+\.\d+", result.stdout, re.MULTILINE), result.stdout
    assert "pip-compile --upgrade --generate-hashes" in result.stdout
