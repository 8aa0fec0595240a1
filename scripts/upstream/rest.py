"""rest mode: ska-data-lifecycle's REST integration tests, with its REST clients and ``--env
docker``, against a DLM laid out as upstream's test deployment (storages ``local`` and
``dlm-archive`` on one shared volume). The tests are run as they are; harness/dlm_harness.py only
points their environment at DLM."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

from .common import DLM_ROOT, HARNESS, LOOPBACK, log, short
from .server import Dlm
from .sources import export, make_venv, pip, upstream_requirements

UPSTREAM_TEST = "tests/integration/test_ska_data_lifecycle.py"


def rest_mode(args: argparse.Namespace, workdir: Path) -> int:
    """Run the tests against a DLM started in ``workdir``, print the summary; 0 when none failed."""
    source = Path(args.path or os.environ.get("UPSTREAM_DLM") or "")
    if not args.path and not os.environ.get("UPSTREAM_DLM"):
        raise SystemExit("give the path of a ska-data-lifecycle checkout or git directory (or UPSTREAM_DLM)")
    upstream = workdir / "upstream"
    rev = export(source, upstream, args.ref)
    log(f"ska-data-lifecycle {rev} exported to {upstream}")

    venv = Path(args.venv) if args.venv else workdir / "venv"
    if make_venv(venv):
        reqs = upstream_requirements(upstream / "pyproject.toml")
        log("installing: " + " ".join(reqs))
        pip(venv, *reqs)
        (venv / ".upstream-tests-ready").write_text(rev)
    # The package itself, always from this export (a reused virtualenv may hold another revision).
    pip(venv, "--no-deps", "--no-build-isolation", "--force-reinstall", str(upstream))
    harness = workdir / "harness"
    harness.mkdir(exist_ok=True)
    for name in ("ska_ser_logging.py", "dlm_harness.py", "janitor.py"):
        shutil.copyfile(HARNESS / name, harness / name)

    fsroot = workdir / "fsroot"
    locations, storages = _deployment(workdir, fsroot)
    dlm = Dlm(workdir, {"DLM_PASSWORD_TOKENS": "true", **args.dlm_env})
    dlm.prepare(locations, storages, admin_password="admin")  # the tests log in as admin/admin
    results = workdir / "results.json"
    config = workdir / "harness-config.json"
    config.write_text(
        json.dumps(
            {
                "url": dlm.url,
                "fsroot": str(fsroot),
                "library_shim": not args.no_library_shim,
                "results": str(results),
                "dlm_root": str(DLM_ROOT),
                "janitor_cmd": [dlm.python, str(harness / "janitor.py")],
                "janitor_env": {**dlm.env, "PYTHONPATH": str(DLM_ROOT)},
            },
            indent=1,
        )
    )
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONPATH") and not k.startswith("DLM_")}
    env.update(
        HOME=str(home),
        DLM_HARNESS_CONFIG=str(config),
        PYTHONPATH=f"{harness}:{upstream}",
        PYTHONDONTWRITEBYTECODE="1",
        **LOOPBACK,
    )
    cmd = [
        str(venv / "bin" / "python"),
        "-m",
        "pytest",
        UPSTREAM_TEST,
        "--env",
        "docker",
        "-p",
        "dlm_harness",
        "-p",
        "no:cacheprovider",
        "-rA",
        *(["--run-excluded"] if args.run_excluded else []),
        *args.pytest_args,
    ]
    dlm.start()
    try:
        log("running: " + " ".join(cmd))
        code = subprocess.run(cmd, cwd=upstream, env=env).returncode
    finally:
        dlm.stop()
    if not results.exists():
        log(f"pytest ended ({code}) without results")
        return code or 1
    return _summary(json.loads(results.read_text()), code)


def _deployment(workdir: Path, fsroot: Path) -> tuple[Path, Path]:
    """Lay out upstream's shared volume under ``fsroot``; the location and storage files for it."""
    # Upstream's containers (its rclone server and its sftp archive) each mount one shared
    # volume at /dlm, the test runner too. Here FSROOT plays their "/": the volume is FSROOT/dlm,
    # where the test process reaches it through the environment's file methods. Storage "local"
    # is rooted at / on an rclone remote rooted at FSROOT; "dlm-archive" is rooted at FSROOT on a
    # plain local remote, and FSROOT/root is a regular file, so /root/testfile_copy cannot be made
    # (upstream's sftp user cannot write the archive container's /root).
    (fsroot / "dlm").mkdir(parents=True, exist_ok=True)
    (fsroot / "root").write_text("a file, so that nothing can be created under /root on dlm-archive\n")
    locations = workdir / "location-config.json"
    locations.write_text(
        json.dumps(
            [{"name": "local", "type": "local-dev", "country": "AU", "city": "Perth", "facility": "local"}], indent=1
        )
    )
    storages = workdir / "storage-config.json"
    storages.write_text(
        json.dumps(
            [
                {
                    "name": "local",
                    "location": "local",
                    "storage_type": "filesystem",
                    "interface": "posix",
                    "storage_phase": "SOLID",
                    "root_directory": "/",
                    "config": {"name": "local", "type": "local", "root_path": str(fsroot)},
                },
                {
                    "name": "dlm-archive",
                    "location": "local",
                    "storage_type": "filesystem",
                    "interface": "posix",
                    "storage_phase": "SOLID",
                    "root_directory": str(fsroot),
                    "config": {"name": "dlm-archive", "type": "local", "root_path": "/"},
                },
            ],
            indent=1,
        )
    )
    return locations, storages


def _summary(data: dict, code: int) -> int:
    """Print each test's outcome, then the failures' details and the counts; the exit status."""
    print("\n=== ska-data-lifecycle REST integration tests against DLM ===")
    counts: dict[str, int] = {}
    for name, entry in data.items():
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
        detail = entry.get("reason", "")
        if entry["outcome"] in ("failed", "error"):
            phase = entry["phases"].get("call") or next(iter(entry["phases"].values()))
            detail = f"{phase['where']}: {phase['message']}"
        print(f"{entry['outcome'].upper():9} {name:40} {short(detail, 140)}")
    for name, entry in data.items():
        for when, phase in entry.get("phases", {}).items():
            print(f"\n--- {name} ({when}) {phase['where']}\n{textwrap.indent(phase['message'][:1500], '    ')}")
            for exchange in phase["exchanges"]:
                print(f"    > {exchange['request']} {exchange['body']}")
                print(f"    < {exchange['status']} {short(exchange['answer'], 400)}")
    print("\n" + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    failed = counts.get("failed", 0) + counts.get("error", 0)
    skipped = counts.get("skipped", 0) + counts.get("excluded", 0)
    print(f"{counts.get('passed', 0)} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or code not in (0,) else 0
