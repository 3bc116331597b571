"""Pure figure builders: arrays in, plain Plotly specs out (viz/spec.py). No Streamlit here."""
