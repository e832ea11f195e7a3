"""Training recipes: one self-contained file per task family, read top to bottom."""
