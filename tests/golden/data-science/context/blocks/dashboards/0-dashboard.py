"""A small Panel dashboard, served by the `dash` app block of examples/data-science.yaml."""

import numpy as np
import pandas as pd
import panel as pn

pn.extension()

rows = pn.widgets.IntSlider(name="Rows", start=10, end=1000, value=100)


def table(n):
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"]).describe()


pn.Column("# Team dashboard", rows, pn.bind(table, rows)).servable()
