"""Streamlit glue for the dashboard: translations, session-state keys, cached core objects."""
