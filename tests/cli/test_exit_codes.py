"""What scripts rely on: 0 ok, 1 the server refused (its message on stderr), 2 usage, 3 the
server cannot be reached; and the server and token found in options, environment or login file."""

from __future__ import annotations

import socket
import stat


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refusal_exits_1_with_the_servers_message(dlm, disks):
    (disks.src / "dup.dat").write_bytes(b"d")
    dlm.ok("ingest", "register-data-item", "dup.dat", "dup.dat", "--storage-name", "cli-src")
    run = dlm("ingest", "register-data-item", "dup.dat", "dup.dat", "--storage-name", "cli-src")
    assert run.code == 1
    assert run.out == ""
    assert "ValueAlreadyInDB" in run.err and "Item is already registered on storage! dup.dat" in run.err
    unknown = dlm("--json", "ingest", "register-data-item", "x", "x", "--storage-name", "no-such-storage")
    assert unknown.code == 1 and "no-such-storage" in unknown.err


def test_bad_token_exits_1(dlm):
    run = dlm("storage", "query-storage", DLM_TOKEN="not-a-token-at-all")
    assert run.code == 1
    assert "HTTP 401" in run.err


def test_usage_errors_exit_2(dlm):
    assert dlm("storage", "init-location").code == 2  # its required values missing
    missing = dlm("data-item", "set-state", "--uid", "3f1c0000-0000-0000-0000-000000000000")
    assert missing.code == 2 and "--state" in missing.err
    assert dlm("data-item", "set-metadata", "u", "--metadata-post", "{not json").code == 2
    assert dlm("data-item", "set-metadata", "u", "--metadata-post", "[1]").code == 2  # not an object
    assert dlm("no-such-group").code == 2
    assert dlm("storage", "query-storage", "--no-such-option").code == 2


def test_unreachable_server_exits_3(dlm):
    url = f"http://127.0.0.1:{closed_port()}"
    run = dlm("--url", url, "storage", "query-storage")
    assert run.code == 3
    assert "cannot reach DLM" in run.err and url in run.err
    assert dlm("status", DLM_URL=url).code == 3


def test_options_win_over_environment(dlm):
    url = f"http://127.0.0.1:{closed_port()}"
    # the environment names a dead server, the option the live one
    assert dlm("--url", dlm.server.url, "--json", "gateway", "heartbeat", DLM_URL=url).code == 0


def test_login_stores_a_token_readable_by_its_owner_only(dlm, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    user = type(dlm)(dlm.server, home, None)  # no token in the environment
    assert user("storage", "query-storage").code == 1  # no token yet: refused
    run = user("--json", "login", "--token-stdin", stdin=dlm.server.token + "\n")
    assert run.code == 0, run.err
    assert run.json["user"] == dlm.server.admin
    path = home / ".config" / "dlm" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # the next commands use it, with no token or URL given
    assert user("--json", "storage", "query-storage", DLM_URL="").code == 0
    assert user("--json", "login", "--token-stdin", stdin="wrong-token-value\n").code == 1


def test_login_with_a_password_takes_a_token_from_the_auth_flow(dlm, tmp_path):
    dlm.server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"u = User.objects.get(username='{dlm.server.admin}'); u.set_password('cli-pass-123'); u.save()",
    )
    home = tmp_path / "home"
    home.mkdir()
    user = type(dlm)(dlm.server, home, None)
    run = user("--json", "login", "--username", dlm.server.admin, "--password-stdin", stdin="cli-pass-123\n")
    assert run.code == 0, run.err
    assert "cli-pass-123" not in run.out + run.err
    assert user("--json", "storage", "query-storage").code == 0
    wrong = user("login", "--username", dlm.server.admin, "--password-stdin", stdin="wrong\n")
    assert wrong.code == 1 and "refused" in wrong.err
    # DLM_CONFIG names another file
    other = tmp_path / "elsewhere.json"
    assert user("login", "--token-stdin", stdin=dlm.server.token + "\n", DLM_CONFIG=str(other)).code == 0
    assert stat.S_IMODE(other.stat().st_mode) == 0o600


def test_status(dlm, disks):
    answer = dlm.ok("status")
    assert answer["heartbeat"] == "ACK"
    assert set(answer["queue"]) == {"tasks", "copy_jobs", "deletion_jobs"}
    assert "cli-src" in [row["storage_name"] for row in answer["storages"]]
    readable = dlm("status")
    assert readable.code == 0 and "up (ACK)" in readable.out and "cli-src" in readable.out
