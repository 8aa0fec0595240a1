"""Fixity: every READY copy verified again within ``DLM_FIXITY_PERIOD`` (filled in below)."""
