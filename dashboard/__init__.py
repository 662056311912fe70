"""The topoact dashboard (Streamlit): ``streamlit run dashboard/app.py``."""
