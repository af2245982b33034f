"""The scoring HTTP server (FastAPI): API, Label Studio ML backend, highlight page, bench."""
