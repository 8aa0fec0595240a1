"""Consistency scans of a storage against the catalogue (filled in below)."""
