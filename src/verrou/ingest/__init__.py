"""Ingest of leaked dumps: readers per format, column mapping, the batch pipeline, reports."""
