"""Small shared pieces of the training recipes: job log, metrics, progress."""
