"""huashu (话术): find rhetorical and propaganda devices in Chinese articles.

The core package holds what every step shares: span and document types, the offset map,
taxonomy loading, text normalisation, ingestion, the rules detector and the detector interface.
`train/` (dataset → train → evaluate → export) and `serve/` (HTTP) build on it; `serve/`
never imports `train/`.
"""

__version__ = "0.1.0"
