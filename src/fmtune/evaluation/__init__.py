"""Evaluation: did the fine-tune help? Metrics of generations against references (this package's `metrics`)."""
