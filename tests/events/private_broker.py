"""A RabbitMQ node of a test's own, which the test may stop and start again (the shared broker on
127.0.0.1:5672 is never touched).

The node is Debian's ``rabbitmq-server`` run as its own Erlang node: its own node name, AMQP and
distribution ports, data, log and config in a temporary directory, no plugins, and a user with a
password of its own. Run by root it runs as the ``rabbitmq`` user, which owns that directory.
``stop`` shuts the node down as its service would (SIGTERM) and ``start`` boots the same node on
the same data again, so durable exchanges, queues and persistent messages survive a restart.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # the node itself (/usr/sbin's wrapper logs to /var/log)
BOOT_TIMEOUT = 60.0  # seconds for the node to answer AMQP
STOP_TIMEOUT = 30.0  # seconds for a clean shutdown before the node is killed


def free_port() -> int:
    """A loopback port nothing listens on, below the kernel's ephemeral range: the node keeps it
    over a restart, and no outgoing connection takes it meanwhile."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(100):
        port = secrets.SystemRandom().randrange(10000, max(low, 10001))
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port below the ephemeral range")


class PrivateBroker:
    """One RabbitMQ node on loopback: ``url`` (with its own password), ``start()``, ``stop()``,
    ``kill()`` (teardown: the node and its children, whatever their state)."""

    def __init__(self) -> None:
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("rabbitmq")
            except KeyError:
                self.user = None
        self.base = Path(tempfile.mkdtemp(prefix="dlmtest-rabbitmq-"))
        self.node = f"dlmtest-{secrets.token_hex(4)}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        while self.dist_port == self.port:
            self.dist_port = free_port()
        self.password = f"pw-{secrets.token_urlsafe(12)}"
        self.url = f"amqp://dlm:{self.password}@127.0.0.1:{self.port}/%2F"
        self.process: subprocess.Popen | None = None
        try:
            self._configure()
        except OSError:
            shutil.rmtree(self.base, ignore_errors=True)
            raise

    def _configure(self) -> None:
        for name in ("mnesia", "log", "home"):
            (self.base / name).mkdir()
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq-env.conf").write_text("")  # not the shared node's /etc/rabbitmq one
        (self.base / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    f"listeners.tcp.default = 127.0.0.1:{self.port}",
                    "default_user = dlm",
                    f"default_pass = {self.password}",
                    "loopback_users = none",
                    "disk_free_limit.absolute = 10MB",
                    "",
                ]
            )
        )
        cookie = self.base / "home" / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20).upper())
        cookie.chmod(0o400)
        if self.user is not None:
            for path in [self.base, *self.base.rglob("*")]:
                os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def _environment(self) -> dict[str, str]:
        base = str(self.base)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": f"{base}/home",  # the Erlang cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONF_ENV_FILE": f"{base}/rabbitmq-env.conf",
            "RABBITMQ_CONFIG_FILE": f"{base}/rabbitmq.conf",
            "RABBITMQ_ADVANCED_CONFIG_FILE": f"{base}/advanced.config",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{base}/enabled_plugins",
            "RABBITMQ_MNESIA_BASE": f"{base}/mnesia",
            "RABBITMQ_LOG_BASE": f"{base}/log",
            "RABBITMQ_LOGS": f"{base}/log/node.log",
            "RABBITMQ_PID_FILE": f"{base}/node.pid",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        if self.user is not None:
            env.update(USER="rabbitmq", LOGNAME="rabbitmq")
        return env

    def log_tail(self, lines: int = 30) -> str:
        """The end of the node's console and log output (for a failure's message)."""
        text = ""
        for name in ("console.log", "log/node.log"):
            path = self.base / name
            if path.exists():
                text += f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    def answers(self) -> bool:
        """Whether the node accepts an AMQP connection with its user."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False  # not listening yet (pika would log each refusal as an error)
        params = pika.URLParameters(self.url)
        params.connection_attempts = 1
        params.socket_timeout = 2
        try:
            pika.BlockingConnection(params).close()
        except Exception:  # noqa: BLE001  (booting, or down)
            return False
        return True

    def start(self) -> None:
        """Boot the node (on the data it has) and wait until it answers AMQP; RuntimeError if it
        does not within ``BOOT_TIMEOUT``."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the node is already running")
        console = open(self.base / "console.log", "ab")  # noqa: SIM115  (the node keeps it; ours is closed below)
        kwargs = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        try:
            self.process = subprocess.Popen(  # noqa: S603
                [SERVER],
                cwd=self.base,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes the VM and its helpers
                **kwargs,
            )
        finally:
            console.close()
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.kill()
                raise RuntimeError(f"rabbitmq-server exited with {code}\n{self.log_tail()}")
            if self.answers():
                return
            time.sleep(0.25)
        self.kill()
        raise RuntimeError(f"rabbitmq-server did not answer AMQP within {BOOT_TIMEOUT:g} s\n{self.log_tail()}")

    def stop(self) -> None:
        """Shut the node down cleanly (SIGTERM, as its service does) and wait until it is gone and
        its port closed; killed if it takes longer than ``STOP_TIMEOUT``."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self) -> None:
        """Kill whatever is left of the node's process group (once: its id is not used again)."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self._wait_port_closed()

    def _wait_port_closed(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
            except OSError:
                return
            time.sleep(0.1)

    def remove(self) -> None:
        """Kill the node and delete its directory."""
        self.kill()
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def private_broker() -> Iterator[PrivateBroker]:
    """A RabbitMQ node of this test's own, running; killed and removed afterwards."""
    if not os.path.exists(SERVER) or shutil.which("erl") is None:
        pytest.skip(f"RabbitMQ is not installed here ({SERVER} and erl are needed)")
    broker = PrivateBroker()
    try:
        try:
            broker.start()
        except (OSError, RuntimeError) as exc:
            pytest.skip(f"rabbitmq-server cannot run here: {exc}")
        yield broker
    finally:
        broker.remove()
