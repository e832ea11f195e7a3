"""Model sources, loading, LoRA and export."""
