"""The scan operations (filled in below)."""
