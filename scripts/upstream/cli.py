"""The command line of scripts/upstream-tests: its options, the mode, and the work directory."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .client import client_mode
from .common import log
from .rest import rest_mode


def main(description: str, argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: sys.argv[1:]; extra pytest arguments after ``--``), run the mode in
    its work directory and remove that directory unless kept; the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    pytest_args: list[str] = []
    if "--" in argv:
        pytest_args = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    parser = argparse.ArgumentParser(
        prog="scripts/upstream-tests",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("mode_or_path", nargs="?", default=None)
    parser.add_argument("path", nargs="?", default=None)
    parser.add_argument("--workdir")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--venv")
    parser.add_argument("--ref", default=os.environ.get("UPSTREAM_REF", "HEAD"))
    parser.add_argument("--no-library-shim", action="store_true")
    parser.add_argument("--run-excluded", action="store_true")
    parser.add_argument("--role", default="operator", choices=("viewer", "operator", "admin"))
    parser.add_argument("--trusted")
    parser.add_argument("--dlm-env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    args.pytest_args = pytest_args
    if any("=" not in item for item in args.dlm_env):
        parser.error("--dlm-env takes NAME=VALUE")
    args.dlm_env = dict(item.split("=", 1) for item in args.dlm_env)
    mode = "rest"
    if args.mode_or_path in ("rest", "client"):
        mode = args.mode_or_path
    elif args.mode_or_path is not None:
        if args.path is not None:
            parser.error(f"unknown mode {args.mode_or_path!r} (rest or client)")
        args.path = args.mode_or_path
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="dlm-upstream-tests-"))
    workdir.mkdir(parents=True, exist_ok=True)
    code = 1
    try:
        code = rest_mode(args, workdir) if mode == "rest" else client_mode(args, workdir)
    finally:
        if args.keep or args.workdir or code:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return code
