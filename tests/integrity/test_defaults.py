"""With none of its settings in the environment, DLM verifies every copy within 30 days at 5
checks and 100 MiB a second per storage, scans each storage weekly, and flags a storage above
80 % of its capacity and refuses new copies above 90 %, as the README and docs/integrity.md say."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.dlm.test_settings import ROOT, _env

SHOW = """
import json
import django
django.setup()
from django.conf import settings
names = ["DLM_FIXITY_PERIOD", "DLM_FIXITY_CHECKS_PER_SECOND", "DLM_FIXITY_BYTES_PER_SECOND", "DLM_SCAN_INTERVAL",
         "DLM_STORAGE_WARN_PCT", "DLM_STORAGE_HIGH_PCT"]
print(json.dumps({name: getattr(settings, name) for name in names}))
"""


@pytest.mark.own_database
def test_integrity_settings_default_to_the_documented_values(tmp_path):
    env = _env(tmp_path)  # no DLM_* variable but DLM_VAR_DIR, and no DATABASE_URL
    result = subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values == {
        "DLM_FIXITY_PERIOD": 30 * 24 * 3600,
        "DLM_FIXITY_CHECKS_PER_SECOND": 5.0,
        "DLM_FIXITY_BYTES_PER_SECOND": 100 * 1024 * 1024,
        "DLM_SCAN_INTERVAL": 7 * 24 * 3600,
        "DLM_STORAGE_WARN_PCT": 80.0,
        "DLM_STORAGE_HIGH_PCT": 90.0,
    }
    docs = (ROOT / "docs" / "integrity.md").read_text()
    for said in ("(default 30 days)", "(default 5)", "(default 100 MiB/s)", "(default a week;", "(default 80 %)",
                 "(default 90 %)"):  # fmt: skip
        assert said in docs, said
