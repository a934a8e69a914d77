"""Workbench quickstart as a marimo notebook: train, sweep, load the model back.

    marimo edit notebooks/quickstart_marimo.py                      # interactive
    python notebooks/quickstart_marimo.py --rows 20000 --epochs 5   # as a script
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App()

with app.setup:
    import marimo as mo

    # Defaults; `--rows`, `--epochs` and `--experiment` on the command line override them.
    ROWS = 4000
    EPOCHS = 3
    EXPERIMENT = "quickstart"


@app.cell
def _():
    mo.md("""
    # Workbench quickstart

    Train a PyTorch model on Dask with every run tracked in MLflow, sweep the built-in
    classifier, then load the trained model back. Nothing to set up: Workbench starts a local
    Dask cluster and keeps runs in a SQLite MLflow store under `$WORKBENCH_HOME`
    (default `.workbench/`).
    """)
    return


@app.cell
def _():
    _args = mo.cli_args()
    rows = int(_args.get("rows") or ROWS)
    epochs = int(_args.get("epochs") or EPOCHS)
    experiment = str(_args.get("experiment") or EXPERIMENT)
    mo.md(f"**{rows}** rows, **{epochs}** epochs, experiment `{experiment}`")
    return epochs, experiment, rows


@app.cell
def _(rows):
    import mlflow
    import torch
    from pydantic import BaseModel, Field

    import workbench as wb

    df = wb.demo.make_dataset(rows, seed=0)  # synthetic churn data; target column "churned"
    df.head()
    return BaseModel, Field, df, mlflow, torch, wb


@app.cell
def _():
    mo.md("""
    ## A train function

    It runs on a Dask worker and gets `ctx`: the validated `ctx.params`, the data as
    `ctx.data`, `ctx.log_metrics` for MLflow, and `ctx.checkpoint` / `ctx.restore` so a retried
    run resumes where it stopped. Return the `nn.Module` and Workbench logs it as the run's
    model. `@wb.trainable` declares the params and the target column, so a typo fails here,
    before anything is submitted.
    """)
    return


@app.cell
def _(BaseModel, Field, torch, wb):
    FEATURES = ["age", "income", "tenure", "usage", "balance", "visits"]

    class ChurnParams(BaseModel):
        epochs: int = Field(3, ge=1)
        lr: float = Field(0.01, gt=0)
        hidden: int = Field(16, ge=1)
        batch_size: int = Field(128, ge=1)

    class ChurnNet(torch.nn.Module):
        """Raw features in, P(churned) out: the scaling is part of the model."""

        def __init__(self, mean, std, hidden):
            super().__init__()
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)
            self.mlp = torch.nn.Sequential(
                torch.nn.Linear(len(mean), hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
            )

        def forward(self, x):
            return torch.sigmoid(self.mlp((x - self.mean) / self.std)).squeeze(1)

    @wb.trainable(params=ChurnParams, target="churned")
    def train_churn(ctx):
        p = ctx.params
        frame = ctx.data
        x = torch.tensor(frame[FEATURES].to_numpy("float32"))
        y = torch.tensor(frame["churned"].to_numpy("float32"))
        cut = int(0.8 * len(x))  # rows are i.i.d.: hold out the last 20% for validation
        model = ChurnNet(x[:cut].mean(0), x[:cut].std(0) + 1e-6, p.hidden)
        optimizer = torch.optim.Adam(model.parameters(), lr=p.lr)
        loss_fn = torch.nn.BCELoss()

        start = 0
        state = ctx.restore()  # None on a fresh start
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start = state["epoch"] + 1

        ctx.total_steps = p.epochs  # sizes the progress bar
        ctx.input_example = frame[FEATURES].head(5).astype("float32")  # model signature
        for epoch in range(start, p.epochs):
            model.train()
            losses = []
            for batch in torch.randperm(cut).split(p.batch_size):
                optimizer.zero_grad()
                loss = loss_fn(model(x[batch]), y[batch])
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            model.eval()
            with torch.no_grad():
                prob = model(x[cut:])
            metrics = {
                "train_loss": sum(losses) / len(losses),
                "val_loss": loss_fn(prob, y[cut:]).item(),
                "val_accuracy": ((prob > 0.5) == (y[cut:] > 0.5)).float().mean().item(),
            }
            ctx.log_metrics(metrics, step=epoch)
            ctx.checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "epoch": epoch})
        return model

    return FEATURES, train_churn


@app.cell
def _():
    mo.md("""
    ## Train

    `wb.train` checks the params and data, records the MLflow run and submits it to Dask; it
    returns at once with a `Job`. `job.result()` waits, showing progress, and re-raises the
    train function's error with its traceback.
    """)
    return


@app.cell
def _(df, epochs, experiment, train_churn, wb):
    job = wb.train(train_churn, params={"epochs": epochs}, data=df, experiment=experiment)
    result = job.result()
    mo.tree(result.to_dict())
    return (result,)


@app.cell
def _():
    mo.md("""
    ## Sweep

    One parent run and a nested run per trial; the trials run in parallel. This one tunes the
    built-in classifier, `workbench.demo.classifier:train`.
    """)
    return


@app.cell
def _(df, experiment, wb):
    sweep = wb.sweep(
        "workbench.demo.classifier:train",
        space={"lr": [0.003, 0.03]},
        params={"epochs": 2},
        data=df,
        metric="val_loss",
        experiment=experiment,
    )
    best = sweep.best()
    mo.tree(best.to_dict())
    return


@app.cell
def _():
    mo.md("""
    ## Load the model

    The run's model is an MLflow model: load it anywhere by its URI and predict.
    """)
    return


@app.cell
def _(FEATURES, df, mlflow, result):
    model = mlflow.pyfunc.load_model(result.model_uri)
    example = df.head(5)
    example.assign(churn_probability=model.predict(example[FEATURES].to_numpy("float32")))
    return


if __name__ == "__main__":
    app.run()
