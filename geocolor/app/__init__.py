"""The Streamlit map app: page, map, results, settings, uploads and server."""
