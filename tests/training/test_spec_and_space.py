"""Parameter schemas and search spaces: pure logic, no services."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

import workbench as wb
from workbench.training.space import trials
from workbench.training.spec import spec_of, validate_params


class Params(BaseModel):
    lr: float = 0.1
    epochs: int = 3


@wb.trainable(params=Params, target="y")
def fit(ctx):
    return None


def test_defaults_are_filled_and_types_coerced() -> None:
    assert validate_params(spec_of(fit), {"epochs": "5"}, "fit") == {"lr": 0.1, "epochs": 5}


def test_unknown_names_get_a_suggestion() -> None:
    with pytest.raises(wb.ConfigError, match="did you mean 'epochs'"):
        validate_params(spec_of(fit), {"epochz": 1}, "fit")


def test_names_must_be_identifiers_even_without_a_schema() -> None:
    def free(ctx):
        return None

    with pytest.raises(wb.ConfigError, match="not a Python identifier"):
        validate_params(spec_of(free), {"learning rate": 1}, "free")
    assert validate_params(spec_of(free), {"anything": [1, 2]}, "free") == {"anything": [1, 2]}


def test_grid_is_the_cartesian_product() -> None:
    points = trials({"a": [1, 2], "b": ["x", "y", "z"], "c": 7}, None, seed=0)
    assert len(points) == 6
    assert {(p["a"], p["b"]) for p in points} == {(a, b) for a in (1, 2) for b in "xyz"}
    assert all(p["c"] == 7 for p in points)


def test_random_search_is_reproducible_and_in_range() -> None:
    space = {"lr": wb.loguniform(1e-4, 1e-1), "layers": wb.randint(1, 4), "act": ["relu", "gelu"]}
    first, second = trials(space, 20, seed=9), trials(space, 20, seed=9)
    assert first == second and first != trials(space, 20, seed=10)
    assert all(1e-4 <= p["lr"] <= 1e-1 and 1 <= p["layers"] <= 4 for p in first)


@pytest.mark.parametrize(("space", "n", "message"), [
    ({}, None, "space is empty"),
    ({"a": []}, None, "has no values"),
    ({"a": wb.uniform(0, 1)}, None, "needs n_trials"),
    ({"a": [1]}, 0, "at least 1"),
])
def test_bad_spaces_are_explained(space, n, message) -> None:
    with pytest.raises(wb.ConfigError, match=message):
        trials(space, n, seed=0)
