"""Run the test OpenID provider: ``python -m tests.idp.serve --port N --dir DIR --spec JSON``.

Migrates a fresh SQLite database in DIR, creates an RSA signing key there (``oidc.key``), creates
the users and client applications of the spec, then serves on 127.0.0.1:N with a threaded server
and prints ``idp ready <issuer>``. Stops on SIGTERM, or when its parent process goes away.

The spec::

    {"users": [{"username": …, "password": …, "email": …, "sub": …, "groups": […]}],
     "clients": [{"name": …, "client_id": …, "client_secret": …, "grant_type": "authorization-code",
                  "redirect_uris": […], "skip_authorization": true}]}
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _write_key(path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)


def _provision(spec: dict[str, Any]) -> None:
    from django.contrib.auth.models import Group, User
    from django.db import transaction
    from oauth2_provider.models import Application

    from tests.idp.models import Subject

    with transaction.atomic():
        for entry in spec.get("users", []):
            user = User.objects.create_user(entry["username"], entry.get("email", ""), entry["password"])
            Subject.objects.create(user=user, sub=entry["sub"])
            user.groups.set(Group.objects.get_or_create(name=name)[0] for name in entry.get("groups", []))
        for entry in spec.get("clients", []):
            Application.objects.create(
                name=entry["name"],
                client_id=entry["client_id"],
                client_secret=entry["client_secret"],
                client_type=Application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=entry["grant_type"],
                redirect_uris=" ".join(entry.get("redirect_uris", [])),
                skip_authorization=entry.get("skip_authorization", False),
                algorithm=Application.RS256_ALGORITHM,
            )


def _stop_with_parent() -> None:
    """SIGTERM ourselves once the process that started us is gone (a killed pytest must not
    leave the provider running)."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--spec", type=json.loads, required=True, help="users and clients, as JSON")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Thread(target=_stop_with_parent, daemon=True).start()

    directory = args.dir.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    _write_key(directory / "oidc.key")
    issuer = f"http://127.0.0.1:{args.port}/o"
    # Overwrite, not setdefault: pytest-django exports DLM's settings module to its children.
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.idp.settings"
    os.environ["IDP_DIR"] = str(directory)
    os.environ["IDP_ISSUER"] = issuer

    import django

    django.setup()

    from django.core.management import call_command
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    call_command("migrate", verbosity=0)
    _provision(args.spec)

    server = ThreadedWSGIServer(("127.0.0.1", args.port), WSGIRequestHandler)
    server.set_app(get_wsgi_application())
    print(f"idp ready {issuer}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
