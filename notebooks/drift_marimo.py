"""Drift check as a marimo notebook: Evidently's verdicts and report, on data of any size.

    marimo edit notebooks/drift_marimo.py
    marimo run notebooks/drift_marimo.py
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App()

with app.setup:
    import marimo as mo

    ROWS = 5000
    COVARIATE_DRIFT = 0.4


@app.cell
def _():
    import workbench as wb

    reference = wb.demo.make_dataset(ROWS, seed=0)
    current = wb.demo.make_dataset(ROWS, seed=1, covariate_drift=COVARIATE_DRIFT)
    result = wb.drift(reference, current)
    mo.md(f"**{result.summary()}**")
    return (result,)


@app.cell
def _(result):
    result  # noqa: B018 (a marimo cell shows its last expression: the verdicts)
    return


@app.cell
def _(result):
    result.report()  # Evidently's own report
    return


if __name__ == "__main__":
    app.run()
