"""The model registry: versions, lineage, promotion and rollback of trained models."""
