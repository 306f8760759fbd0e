"""The demo's Streamlit dashboard. Edit it in JupyterLab (dash/app.py): Streamlit reloads it."""

import pandas as pd
import streamlit as st

st.title("blockc demo studio")
st.write("This file lives in your workspace and is synced into the studio.")
n = st.slider("rows", 5, 50, 10)
df = pd.DataFrame({"x": range(n), "x squared": [i * i for i in range(n)]})
st.line_chart(df, x="x")
