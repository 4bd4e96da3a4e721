"""The app server ``geocolor app`` starts: the page plus the results folder as files.

``streamlit run`` finds ``app`` below and serves it with uvicorn; the extra route lets
Leaflet fetch result PNGs from the configured work folder by URL, wherever the package
is installed (Streamlit's own static folder would have to sit inside the package).
The page is named by path, not imported: its map component must be declared once the
Streamlit runtime is up, or the component's files are not served.
"""

from pathlib import Path

import streamlit as st

from geocolor.app.results import result_routes

#: The Streamlit script, run afresh on every rerun.
PAGE = str(Path(__file__).with_name("page.py"))

app = st.App(PAGE, routes=result_routes())
