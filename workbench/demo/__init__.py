"""The built-in demo: a seeded synthetic tabular dataset and a PyTorch classifier for it."""

from workbench.demo.synthetic import DemoData, make_dataset

__all__ = ["DemoData", "make_dataset"]
