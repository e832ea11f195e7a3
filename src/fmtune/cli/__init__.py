"""The `fmtune` command."""
