"""Training: data sources, fitting every model, registering them, and answering in batch."""
