"""fmtune: fine-tune foundation models on your own data, on your own machines."""

__version__ = "0.1.0"
