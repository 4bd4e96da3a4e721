"""The geocolor map app for ``streamlit run app/main.py``; ``geocolor app`` serves the same."""

from pathlib import Path

import streamlit as st

import geocolor
from geocolor.app_results import result_routes

app = st.App(str(Path(geocolor.__file__).with_name("app_page.py")), routes=result_routes())
