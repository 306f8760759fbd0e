"""A tiny Streamlit app shipped with the jupyter-streamlit example template."""

import streamlit as st

st.title("Hello from a blockc studio")
n = st.slider("n", 1, 10, 3)
st.write(f"{n} squared is {n * n}")
