"""DLM starts with no settings at all, reads its environment, and refuses bad values by name."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
CHECK = "import django; django.setup(); print('started')"


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLM_") and k != "DATABASE_URL"}
    env.update(DJANGO_SETTINGS_MODULE="dlm.settings", DLM_VAR_DIR=str(tmp_path / "var"), **values)
    return env


def _start(tmp_path: Path, **values: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, env=_env(tmp_path, **values), capture_output=True, text=True
    )


def test_no_environment_starts_with_generated_local_keys(tmp_path):
    result = _start(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "DLM_FIELD_ENCRYPTION_KEYS is not set" in result.stderr
    key_file = tmp_path / "var" / "field_encryption_key"
    Fernet(key_file.read_text().strip())  # a usable key
    assert oct(key_file.stat().st_mode)[-3:] == "600"
    assert (tmp_path / "var" / "secret_key").exists()
    again = _start(tmp_path)
    assert again.returncode == 0 and "is not set" not in again.stderr  # the same key is reused quietly


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DLM_DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://u@h/db"),
        ("DATABASE_URL", "not a url"),
        ("DLM_TRUSTED_NETWORKS", "10.0.0.0/8"),
        ("DLM_TRUSTED_NETWORKS", "ten-net=svc"),
        ("DLM_TRUSTED_NETWORKS", "10.0.0.0/8=svc-dlm-client:superuser"),
        ("DLM_TRUSTED_NETWORKS", "10.0.0.0/8=operator,10.0.0.0/8=admin"),
        ("DLM_TRUSTED_NETWORKS", "10.0.0.0/8=two words"),
        ("DLM_QUERY_LIMIT", "lots"),
        ("DLM_QUERY_LIMIT", "0"),
        ("DLM_API_TOKEN_TTL_DAYS", "-3"),
        ("DLM_OID_EXPIRATION", "someday"),
        ("DLM_LOG_LEVEL", "LOUD"),
        ("DLM_COPY_BWLIMIT", "20 MB/s"),
        ("DLM_COPY_BWLIMIT", "fast"),
        ("DLM_TRUSTED_NETWORK_ROLE", "superuser"),
        ("DLM_OIDC_ROLE_MAP", "dlm-operators=operators"),
        ("DLM_OIDC_ROLE_MAP", "dlm-operators"),
        ("DLM_OIDC_CLIENT_ID", "dlm"),  # a client without an issuer or endpoints
    ],
)
def test_bad_value_fails_at_start_naming_the_variable(tmp_path, variable, value):
    result = _start(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr.splitlines()[-1]


def test_trusted_networks_are_read_in_each_form_at_start(tmp_path):
    check = "import django; django.setup(); from django.conf import settings; print(settings.TRUSTED_NETWORKS)"
    env = _env(
        tmp_path,
        DLM_TRUSTED_NETWORKS="10.0.0.0/8=operator,127.0.0.1/32=admin,10.2.0.0/16=svc-dlm-client:operator,fd00::/8=svc",
        DLM_TRUSTED_NETWORK_ROLE="operator",
    )
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    shown = result.stdout.strip().splitlines()[-1]
    for entry in (
        "IPv4Network('10.0.0.0/8'), account='trusted-network', role='operator'",
        "IPv4Network('127.0.0.1/32'), account='trusted-network', role='admin'",
        "IPv4Network('10.2.0.0/16'), account='svc-dlm-client', role='operator'",
        "IPv6Network('fd00::/8'), account='svc', role='operator'",
    ):
        assert f"TrustedNetwork(network={entry})" in shown


def test_bad_encryption_key_is_named_but_not_shown(tmp_path):
    result = _start(tmp_path, DLM_FIELD_ENCRYPTION_KEYS=f"{Fernet.generate_key().decode()},not-a-secret-key-xyz")
    assert result.returncode != 0
    assert "DLM_FIELD_ENCRYPTION_KEYS: key #2" in result.stderr
    assert "not-a-secret-key-xyz" not in result.stderr


def test_production_mode_requires_explicit_keys(tmp_path):
    no_secret = _start(tmp_path, DLM_DEBUG="false", DLM_FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode())
    assert no_secret.returncode != 0 and "DLM_SECRET_KEY must be set" in no_secret.stderr
    no_keys = _start(tmp_path, DLM_DEBUG="false", DLM_SECRET_KEY="x" * 50)
    assert no_keys.returncode != 0 and "DLM_FIELD_ENCRYPTION_KEYS must be set" in no_keys.stderr
    assert not (tmp_path / "var" / "field_encryption_key").exists()
    both = _start(
        tmp_path, DLM_DEBUG="false", DLM_SECRET_KEY="x" * 50, DLM_FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode()
    )
    assert both.returncode == 0, both.stderr


def test_sqlite_url_selects_that_file(tmp_path):
    db_file = tmp_path / "elsewhere.sqlite3"
    env = _env(tmp_path, DATABASE_URL=f"sqlite:///{db_file}")
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert db_file.exists()
    assert not (tmp_path / "var" / "dlm.sqlite3").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def test_runserver_and_qcluster_work_with_no_settings(tmp_path):
    """The embedded default: migrate, serve on loopback, and run a job on a worker sharing the database."""
    env = _env(tmp_path)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:

        def heartbeat():
            try:
                return requests.get(f"http://127.0.0.1:{port}/heartbeat", timeout=2).json() == "ACK"
            except requests.RequestException:
                return False

        assert _wait_for(heartbeat)
        enqueue = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c",
             "from django_q.tasks import async_task; print(async_task('math.hypot', 3, 4))"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        task_id = enqueue.stdout.strip().splitlines()[-1]
        read = [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            f"from django_q.tasks import result; print(result('{task_id}'))",
        ]

        def finished():
            out = subprocess.run(read, cwd=ROOT, env=env, capture_output=True, text=True).stdout.strip()
            out = out.splitlines()[-1] if out else ""
            return out if out and out != "None" else None

        assert _wait_for(finished, timeout=60) == "5.0"
    finally:
        server.terminate()
        worker.terminate()
        server.wait(10)
        try:
            worker.wait(30)
        finally:
            os.killpg(worker.pid, 9) if worker.poll() is None else None


PREPARED = """
import django; django.setup()
from django.db import connection
with connection.cursor() as cursor:
    for n in range(3):
        cursor.execute("SELECT %s::int AS dlm_marker", [n])
    cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%dlm_marker%"])
    print("prepared", cursor.fetchone()[0])
"""


@pytest.mark.parametrize(("setting", "prepared"), [(None, 1), ("false", 0)])
def test_postgresql_statements_are_prepared_on_their_connection_unless_turned_off(tmp_path, setting, prepared):
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("a PostgreSQL setting: run with DATABASE_URL=postgres://…")
    values = {"DATABASE_URL": url.rsplit("/", 1)[0] + "/postgres"}  # no table of DLM's is read
    if setting is not None:
        values["DLM_PG_PREPARE"] = setting
    result = subprocess.run(
        [sys.executable, "-c", PREPARED], cwd=ROOT, env=_env(tmp_path, **values), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"prepared {prepared}"
