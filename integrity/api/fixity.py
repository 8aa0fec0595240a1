"""The fixity operations (filled in below)."""
