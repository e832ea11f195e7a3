"""Data channels, templates, tokenization and batching."""
