"""client mode: every operation of ska-dlm-client's generated OpenAPI client
(ska_dlm_client.openapi), called by harness/client_check.py against a DLM started as a default
install whose loopback network is trusted."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from pathlib import Path

from .common import HARNESS, LOOPBACK, log, short
from .server import Dlm
from .sources import export, make_venv, pip


def client_mode(args: argparse.Namespace, workdir: Path) -> int:
    """Call every operation against a DLM started in ``workdir``, print the summary; 0 when none failed."""
    if not args.path and not os.environ.get("UPSTREAM_DLM_CLIENT"):
        raise SystemExit("give the path of a ska-dlm-client checkout or git directory (or UPSTREAM_DLM_CLIENT)")
    source = Path(args.path or os.environ["UPSTREAM_DLM_CLIENT"])
    tree = workdir / "ska-dlm-client"
    rev = export(source, tree, args.ref)
    log(f"ska-dlm-client {rev} exported to {tree}")
    venv = Path(args.venv) if args.venv else workdir / "venv-client"
    if make_venv(venv):
        # The generated package's own requirements (its generator project), then ska-dlm-client
        # itself without its other dependencies: ska_dlm_client.openapi needs nothing else.
        generated = tree / "openapi_client_dlm_specs/openapi_client_dlm_project/requirements.txt"
        pip(venv, "-r", str(generated))
        (venv / ".upstream-tests-ready").write_text(rev)
    pip(venv, "--no-deps", "--no-build-isolation", "--force-reinstall", str(tree))

    data = workdir / "client-data"
    locations, storages = _deployment(workdir, data)
    trusted = {"DLM_TRUSTED_NETWORKS": args.trusted or "127.0.0.1/32=svc-dlm-client"}
    if not args.trusted:
        trusted["DLM_TRUSTED_NETWORK_ROLE"] = args.role
    log("trusted network: " + " ".join(f"{k}={v}" for k, v in trusted.items()))
    dlm = Dlm(workdir, {**trusted, **args.dlm_env})
    token, admin_password = dlm.prepare(locations, storages)
    config = workdir / "client-config.json"
    results = workdir / "client-results.json"
    config.write_text(
        json.dumps(
            {
                "url": dlm.url,
                "token": token,
                "role": args.role,
                "data_dir": str(data),
                "file_uri": "eb-client/vis.fits",
                "admin_password": admin_password,
            }
        )
    )
    shutil.copyfile(HARNESS / "client_check.py", workdir / "client_check.py")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HOME=str(workdir), **LOOPBACK)
    dlm.start()
    try:
        code = subprocess.run(
            [str(venv / "bin" / "python"), str(workdir / "client_check.py"), str(config), str(results)],
            cwd=workdir,
            env=env,
        ).returncode
    finally:
        dlm.stop()
    if code or not results.exists():
        log(f"the client check ended with {code}")
        return code or 1
    return _summary(json.loads(results.read_text()), args.role)


def _deployment(workdir: Path, data: Path) -> tuple[Path, Path]:
    """A disk holding one file and an empty archive; the location and storage files for them."""
    (data / "eb-client").mkdir(parents=True, exist_ok=True)
    (data / "eb-client" / "vis.fits").write_text("some visibilities\n")
    (workdir / "client-archive").mkdir(exist_ok=True)
    locations = workdir / "location-config.json"
    locations.write_text(
        json.dumps([{"name": "client-loc", "type": "local-dev", "country": "AU", "city": "Perth", "facility": "local"}])
    )
    storages = workdir / "storage-config.json"
    storages.write_text(
        json.dumps(
            [
                {
                    "name": "client-disk",
                    "location": "client-loc",
                    "storage_type": "filesystem",
                    "interface": "posix",
                    "storage_phase": "GAS",
                    "root_directory": str(data),
                    "config": {"name": "client-disk", "type": "local", "root_path": "/"},
                },
                {
                    "name": "client-archive",
                    "location": "client-loc",
                    "storage_type": "filesystem",
                    "interface": "posix",
                    "storage_phase": "SOLID",
                    "root_directory": str(workdir / "client-archive"),
                    "config": {"name": "client-archive", "type": "local", "root_path": "/"},
                },
            ]
        )
    )
    return locations, storages


def _summary(rows: list[dict], role: str) -> int:
    """Print each operation's result, then the failures' details and the counts; the exit status."""
    print(f"\n=== ska-dlm-client generated client against DLM (trusted network, role {role}) ===")
    for row in rows:
        op = f"{row['api']}.{row['operation']}"
        extra = (
            f"  {row.get('error', '')}" if row["result"] != "ok" else f"  ({row['note']})" if row.get("note") else ""
        )
        print(f"{row['result']:7} {op:66} {row.get('status')}{extra}")
    failures = [r for r in rows if r["result"] != "ok"]
    for row in failures:
        print(f"\n--- {row['api']}.{row['operation']} ({row.get('note') or 'expected ' + str(row.get('expect'))})")
        print(f"    > {row['request']}")
        print(f"    < {row.get('status')} {short(row.get('answer', ''), 500)}")
        print(f"    ! {row.get('error')}")
    print(f"\n{len(rows) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0
