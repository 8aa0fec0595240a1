"""The lifecycle's settings when the environment says nothing of them: the defaults README.md
documents."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.DLM_LIFECYCLE_INTERVAL, s.DLM_PHASE_GRACE, s.DLM_LIFECYCLE_BATCH]))"
)


def test_the_pass_interval_grace_and_batch_default_to_60_s_900_s_and_500_objects(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLM_") and k != "DATABASE_URL"}
    env.update(DJANGO_SETTINGS_MODULE="dlm.settings", DLM_VAR_DIR=str(tmp_path / "var"))

    result = subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [60, 900, 500]
    readme = (ROOT / "README.md").read_text()
    for row in (
        "| `DLM_LIFECYCLE_INTERVAL` | `60` |",
        "| `DLM_PHASE_GRACE` | `900` |",
        "| `DLM_LIFECYCLE_BATCH` | `500` |",
    ):
        assert row in readme  # what the running DLM uses is what its documentation says
