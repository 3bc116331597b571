"""Streamlit-side helpers: the config, the shared sidebar, presets and cached engine runs."""
