"""The geocolor map app for ``streamlit run app/main.py``; ``geocolor app`` serves the same."""

from geocolor.app.server import app

__all__ = ["app"]
