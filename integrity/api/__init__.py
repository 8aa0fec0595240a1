"""The integrity operations: fixity checks (``fixity``) and consistency scans (``scans``)."""
