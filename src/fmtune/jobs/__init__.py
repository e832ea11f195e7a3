"""Job directories and the runner that starts a recipe for a JobConfig."""
