"""Lifecycle Studio core: ingestion, workspace, labels, models and analytics.

    python -m lifecycle_core --help

Nothing in this package imports Streamlit; the dashboard (``app.py``, ``pages/``) wraps it.
"""

__version__ = "0.1.0"
