"""Tests for keras_hparams/constraints.py: limits on a trial's quantities."""

from __future__ import annotations

import json
import math
import re

import pytest

import keras_hparams as kh
from keras_hparams.constraints import Constraint


def test_a_limit_says_why_a_value_breaks_it():
    at_most = kh.Constraint("params", at_most=100_000)
    assert at_most.violation(100_000) is None
    assert at_most.violation(120_000) == "params=120000 > 100000"
    at_least = kh.Constraint("val_accuracy", at_least=0.9)
    assert at_least.violation(0.95) is None
    assert at_least.violation(0.8) == "val_accuracy=0.8 < 0.9"
    both = kh.Constraint("latency", at_least=0.001, at_most=0.005)
    assert both.violation(0.003) is None
    assert both.violation(0.01) is not None and both.violation(0.0001) is not None
    assert at_most.violation(math.nan) == "params=nan is not a finite number"


def test_excess_is_relative_to_the_limit():
    constraint = kh.Constraint("params", at_most=100)
    assert constraint.excess(50) == 0.0
    assert constraint.excess(150) == pytest.approx(0.5)
    assert kh.Constraint("val_accuracy", at_least=0.8).excess(0.4) == pytest.approx(0.5)
    assert constraint.excess(None) == 1.0


def test_the_quantity_is_a_metric_a_measure_or_an_objective():
    assert kh.Constraint("params", at_most=1).quantity == kh.Objective.params()
    assert kh.Constraint("val_loss", at_most=1).quantity.is_metric
    latency = kh.Objective.latency(batch_size=8)
    assert kh.Constraint(latency, at_most=0.01).quantity is latency


@pytest.mark.parametrize(
    "constraint",
    [
        kh.Constraint("params", at_most=100_000),
        kh.Constraint("val_accuracy", at_least=0.9),
        kh.Constraint(kh.Objective.latency(repeats=5), at_least=0.0, at_most=0.005),
    ],
)
def test_config_round_trip(constraint):
    config = json.loads(json.dumps(constraint.get_config()))
    assert Constraint.from_config(config) == constraint


def test_text_and_repr():
    constraint = kh.Constraint("params", at_most=100_000)
    assert str(constraint) == "params <= 100000"
    assert repr(constraint) == "Constraint(Objective.params('min'), at_most=100000)"
    assert repr(kh.Constraint("val_auc", at_least=0.9)) == (
        "Constraint('val_auc', at_least=0.9)"
    )
    assert str(kh.Constraint("x", at_least=1, at_most=2)) == "x >= 1 and x <= 2"


@pytest.mark.parametrize("quantity", [None, "", 3])
def test_the_quantity_must_be_a_name_or_an_objective(quantity):
    with pytest.raises(
        TypeError,
        match=re.escape(
            "Constraint(quantity=...) expects a metric name, 'params', 'latency', "
            f"'size' or a kh.Objective. Received: {quantity!r}."
        ),
    ):
        kh.Constraint(quantity, at_most=1)


def test_a_limit_is_needed():
    with pytest.raises(
        ValueError, match=re.escape("Constraint('params') needs a limit")
    ):
        kh.Constraint("params")


@pytest.mark.parametrize("limit", ["100", math.inf, True])
def test_limits_are_finite_numbers(limit):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "For Constraint('params'), expected at_most a finite number or None. "
            f"Received: at_most={limit!r}."
        ),
    ):
        kh.Constraint("params", at_most=limit)


def test_limits_in_order():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "For Constraint('x'), expected at_least <= at_most. "
            "Received: at_least=2, at_most=1."
        ),
    ):
        kh.Constraint("x", at_least=2, at_most=1)
