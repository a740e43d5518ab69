"""Bulk import of files (CSV, gzip CSV, JSON Lines, Parquet) through the ingest pipeline."""
