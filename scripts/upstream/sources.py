"""The upstream sources and their virtualenv: a revision exported from a git directory (or copied
from a plain tree), and the packages upstream's tests need, installed from PyPI."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from .common import log, run

# Dependencies of ska-data-lifecycle (its pyproject) that its REST tests never import, or that
# PyPI does not have: they are not installed.
UPSTREAM_SKIPPED_DEPS = {
    "python",
    "ipython",  # interactive shell
    "locust",  # benchmarks
    "numpy",  # benchmarks
    "asyncpg",  # the services' own PostgreSQL driver
    "aiosqlite",
    "aio-pika",  # the outbox relay (RabbitMQ)
    "msal",  # the gateway
    "ska-ser-logging",  # SKAO's registry only: replaced by harness/ska_ser_logging.py
    "ska-sdp-dataproduct-metadata",  # SKAO's registry only; not imported by the tests
}
# From its test group: what the REST tests and their conftest import (docker, kubernetes) or
# what its pytest settings need (--integration-cover: pytest-integration, with pytest-cov).
UPSTREAM_TEST_DEPS = ("pytest-integration", "pytest-cov", "docker", "kubernetes", "requests-mock", "pytest-mock")
# What its lock file brings along and the imports need: SQLAlchemy's asyncio module needs greenlet.
UPSTREAM_EXTRA_DEPS = ("greenlet",)


def is_git_dir(path: Path) -> bool:
    """Whether ``path`` is a bare git directory (not a checkout)."""
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def export(source: Path, dest: Path, ref: str) -> str:
    """Export ``source`` (a bare git dir, a checkout, or a plain tree) into ``dest``; its revision."""
    if not source.is_dir():
        raise SystemExit(f"{source} is not a directory")
    dest.mkdir(parents=True, exist_ok=True)
    git = ["git", "--git-dir", str(source)] if is_git_dir(source) else ["git", "-C", str(source)]
    if not is_git_dir(source) and not (source / ".git").exists():
        shutil.copytree(source, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
        return "(working tree)"
    rev = subprocess.run([*git, "rev-parse", ref], check=True, capture_output=True, text=True).stdout.strip()
    archive = subprocess.Popen([*git, "archive", rev], stdout=subprocess.PIPE)
    run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout)
    if archive.wait() != 0:
        raise SystemExit(f"git archive of {source} failed")
    return rev


def pep440(spec) -> str:
    """A poetry version constraint as PEP 440 (^, ~, bare versions, comparisons)."""
    if isinstance(spec, dict):
        spec = spec.get("version", "*")
    spec = str(spec).strip()
    if spec in ("", "*"):
        return ""
    out = []
    for part in (p.strip() for p in spec.split(",")):
        if part.startswith("^"):
            nums = [int(n) for n in re.findall(r"\d+", part[1:])[:3]] + [0, 0]
            first = next((i for i, n in enumerate(nums[:3]) if n), 2)
            upper = nums[:first] + [nums[first] + 1]
            out += [f">={part[1:]}", "<" + ".".join(map(str, upper))]
        elif part.startswith("~") and not part.startswith("~="):
            nums = [int(n) for n in re.findall(r"\d+", part[1:])[:3]]
            upper = [nums[0] + 1] if len(nums) == 1 else [nums[0], nums[1] + 1]
            out += [f">={part[1:]}", "<" + ".".join(map(str, upper))]
        elif re.match(r"^\d", part):
            out.append(f"=={part}")
        else:
            out.append(part)
    return ",".join(out)


def pip(venv: Path, *args: str) -> None:
    """``pip install`` into ``venv``, quietly."""
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-qq", "--disable-pip-version-check", *args])


def make_venv(venv: Path) -> bool:
    """Create ``venv`` if needed; True when it is new (and needs its installs)."""
    if (venv / "bin" / "python").exists() and (venv / ".upstream-tests-ready").exists():
        log(f"reusing {venv}")
        return False
    log(f"creating {venv}")
    run([sys.executable, "-m", "venv", "--clear", str(venv)])
    pip(venv, "--upgrade", "pip")
    pip(venv, "poetry-core>=1.9", "setuptools", "wheel")
    return True


def upstream_requirements(pyproject: Path) -> list[str]:
    """What to install for ska-data-lifecycle's REST tests, from its poetry ``pyproject``."""
    poetry = tomllib.loads(pyproject.read_text())["tool"]["poetry"]
    reqs = [
        f"{name}{pep440(spec)}"
        for name, spec in poetry["dependencies"].items()
        if name.lower() not in UPSTREAM_SKIPPED_DEPS
    ]
    test = poetry.get("group", {}).get("test", {}).get("dependencies", {})
    reqs += [f"{name}{pep440(test.get(name, '*'))}" for name in UPSTREAM_TEST_DEPS]
    reqs += list(UPSTREAM_EXTRA_DEPS)
    return reqs
