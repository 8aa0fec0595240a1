"""A storage's use and free space (filled in below)."""
