"""The README's tour, run as a reader runs it: the shell blocks of its "A quick tour" section in
one bash session, then its Python example, against DLM in processes of its own (gunicorn and a
django-q2 worker, on a database of their own) and an S3 server on loopback standing in for
Acacia. Every curl call must succeed (HTTP below 400), and the answers must be what the README
says they are."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.live_dlm import RunningDlm, dlm_running
from tests.storage_servers import StorageServer

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TOUR = "## A quick tour"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RECORD_END = "\n\x1e\n"

# Run before the README's blocks: stop at the first failing command, and make every curl call
# fail on an HTTP error (its body still printed) and note its arguments and answer for the test.
PRELUDE = r"""
set -euo pipefail
curl() {
  local answer
  answer=$(command curl --fail-with-body --show-error "$@") || {
    printf '%s\n' "$answer" >&2
    echo "this call failed: curl $*" >&2
    return 1
  }
  printf '%s\n' "$answer"
  printf '%s\n%s\n\036\n' "$*" "$answer" >>"$TRANSCRIPT"
}
"""

# What the S3 example names, and what stands in for it here.
S3_PLACEHOLDERS = ("https://projects.pawsey.org.au", "YOUR_ACCESS_KEY", "YOUR_SECRET_KEY")


def tour_blocks(text: str) -> tuple[list[str], list[str]]:
    """The shell and the Python blocks of the README's tour section, in order."""
    start = text.index(TOUR + "\n")
    end = text.find("\n## ", start + len(TOUR))
    section = text[start : end if end >= 0 else len(text)]
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", section, re.M | re.S)
    return [code for lang, code in blocks if lang == "sh"], [code for lang, code in blocks if lang == "python"]


@pytest.fixture(scope="module")
def dlm(tmp_path_factory) -> Iterator[RunningDlm]:
    """DLM as scripts/run runs it: gunicorn and a django-q2 worker, with an admin's API token."""
    with dlm_running(tmp_path_factory.mktemp("readme-dlm"), name="readme") as running:
        yield running


def _calls(transcript: Path) -> list[tuple[str, str]]:
    """Each curl call the blocks made: its arguments and its answer."""
    records = transcript.read_text().split(RECORD_END) if transcript.exists() else []
    return [tuple(record.split("\n", 1)) for record in records if record.strip()]


def _answers(calls: list[tuple[str, str]], path: str) -> list[Any]:
    """The answers (JSON) of the calls to ``path``, in order."""
    return [json.loads(answer) for args, answer in calls if f"{path}?" in args]


def _wait_for_job(dlm: RunningDlm, migration_id: int, timeout: float = 60) -> dict[str, Any]:
    """The job's row once it has ended (``job_status.finished``)."""
    deadline = time.monotonic() + timeout
    while True:
        row = requests.get(
            f"{dlm.url}/migration/get_migration",
            params={"migration_id": migration_id},
            headers={"Authorization": f"Bearer {dlm.token}"},
            timeout=10,
        ).json()[0]
        if (row["job_status"] or {}).get("finished"):
            return row
        assert time.monotonic() < deadline, f"copy job {migration_id} has not ended: {row}"
        time.sleep(0.3)


def test_the_readme_tour_runs_as_written(dlm: RunningDlm, s3_server: StorageServer, tmp_path: Path):
    if not (shutil.which("curl") and shutil.which("jq")):
        pytest.skip("the tour needs curl and jq")
    shell, python = tour_blocks(README.read_text())
    assert len(shell) >= 3 and len(python) == 1, "the tour's blocks: a start, the copy, S3; and Python"
    script = "\n".join(shell)
    endpoint = s3_server.config["parameters"]["endpoint"]
    access_key = s3_server.config["parameters"]["access_key_id"]
    for placeholder, value in zip(S3_PLACEHOLDERS, (endpoint, access_key, s3_server.secret), strict=True):
        assert placeholder in script, f"the S3 example no longer names {placeholder}"
        script = script.replace(placeholder, value)
    (s3_server.root / "dlm-demo").mkdir(exist_ok=True)  # the example's bucket
    demo = tmp_path / "dlm-demo"
    transcript = tmp_path / "transcript"
    env = {**os.environ, "DLM": dlm.url, "TOKEN": dlm.token, "DEMO": str(demo), "TRANSCRIPT": str(transcript)}

    shell_run = subprocess.run(
        ["bash", "-c", PRELUDE + script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )

    assert shell_run.returncode == 0, f"stdout:\n{shell_run.stdout[-4000:]}\nstderr:\n{shell_run.stderr[-4000:]}"
    calls = _calls(transcript)
    for path in ("/storage/init_location", "/storage/init_storage", "/storage/create_storage_config"):
        answers = _answers(calls, path)
        assert answers and all(isinstance(a, str) and UUID.fullmatch(a) for a in answers), (path, answers)
    assert len(_answers(calls, "/storage/init_storage")) == 3  # demo-disk, demo-archive, acacia
    assert _answers(calls, "/storage/check_storage_access")[0]["reachable"] is True

    [uid] = _answers(calls, "/ingest/register_data_item")
    assert isinstance(uid, str) and len(uid) == 36 and UUID.fullmatch(uid)
    content = b"some visibilities\n"
    [registered] = _answers(calls, "/request/query_data_item")[0]
    assert (registered["uid"], registered["item_state"], registered["item_size"]) == (uid, "READY", len(content))
    assert registered["item_checksum"] == hashlib.md5(content).hexdigest()
    assert _answers(calls, "/request/query_item_storage")[0][0]["uri"] == "eb-001/vis.fits"

    to_disk, to_s3 = _answers(calls, "/migration/copy_data_item")
    for copy in (to_disk, to_s3):
        assert set(copy) == {"uid", "migration_id"} and UUID.fullmatch(copy["uid"]) and copy["uid"] != uid
    ended = _answers(calls, "/migration/get_migration")[-1][0]  # the poll that ended the wait
    assert ended["migration_id"] == to_disk["migration_id"]
    assert (ended["state"], ended["complete"], ended["last_error"]) == ("completed", True, "")
    assert ended["job_status"]["finished"] is True and ended["job_status"]["success"] is True
    both = _answers(calls, "/request/query_data_item")[-1]
    assert {(row["uid"], row["uri"], row["item_state"]) for row in both} == {
        (uid, "eb-001/vis.fits", "READY"),
        (to_disk["uid"], "2026/eb-001/vis.fits", "READY"),
    }
    assert len({row["oid"] for row in both}) == 1 and len({row["storage_id"] for row in both}) == 2
    assert (demo / "archive" / "2026" / "eb-001" / "vis.fits").read_bytes() == content
    # The S3 example: the secret is shown masked, and the copy to the bucket completes.
    acacia = _answers(calls, "/storage/get_storage_config")[-1]
    assert acacia[0]["parameters"]["secret_access_key"] == "***"
    assert s3_server.secret not in json.dumps(acacia)
    assert _wait_for_job(dlm, to_s3["migration_id"])["state"] == "completed"
    assert (s3_server.root / "dlm-demo" / "obs" / "eb-001" / "vis.fits").read_bytes() == content

    python_run = subprocess.run(
        [sys.executable, "-c", python[0]], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )

    assert python_run.returncode == 0, f"stdout:\n{python_run.stdout}\nstderr:\n{python_run.stderr}"
    lines = python_run.stdout.strip().splitlines()
    assert re.fullmatch(r"copy job \d+ completed", lines[0]), lines
    copies = [line.split() for line in lines[1:]]
    assert len(copies) == 2 and {copy[2] for copy in copies} == {"eb-002/vis.fits"}
    assert all(UUID.fullmatch(copy[0]) and copy[3] == "READY" for copy in copies), lines
    assert (demo / "archive" / "eb-002" / "vis.fits").read_text() == "more visibilities\n"
