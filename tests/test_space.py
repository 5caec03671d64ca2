"""Tests for keras_hparams/space.py: the markers and the search space."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams import space as space_module
from keras_hparams.space import SearchSpace

ALL_KINDS = [
    kh.Int("units", 32, 512, step=32, default=128),
    kh.Int("layers", 1, 4),
    kh.Int("filters", 8, 256, log=True, default=16),
    kh.Float("lr", 1e-4, 1e-1, log=True, default=1e-3),
    kh.Float("dropout", 0.0, 0.5, step=0.1, default=0.2),
    kh.Float("momentum", 0.5, 0.99),
    kh.Choice("activation", ["relu", "tanh", "gelu"], default="tanh"),
    kh.Choice("batch_size", [32, 64, 128]),
    kh.Choice("scale", [0.5, 1.0, 2.0]),
    kh.Choice("flag", [True, False]),
    kh.Choice("pooling", [None, "max", "avg"]),
    kh.Boolean("batch_norm", default=True),
    kh.Fixed("seed", 0),
    kh.Fixed("optimizer", "adam"),
    kh.Fixed("nothing", None),
    kh.Int(1, 4),
    kh.Float(0.0, 1.0),
    kh.Choice(["a", "b"]),
    kh.Boolean(),
    kh.Fixed(3.5),
]


# -- validation errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, message",
    [
        (
            lambda: kh.Int("units", 512, 32),
            ValueError,
            "For Int('units'), expected low <= high. Received: low=512, high=32.",
        ),
        (
            lambda: kh.Float("lr", 1.0, 0.1),
            ValueError,
            "For Float('lr'), expected low <= high. Received: low=1.0, high=0.1.",
        ),
        (
            lambda: kh.Float("lr", 0.0, 0.1, log=True),
            ValueError,
            "For Float('lr'), log=True needs low > 0. Received: low=0.0.",
        ),
        (
            lambda: kh.Int("units", -1, 10, log=True),
            ValueError,
            "For Int('units'), log=True needs low > 0. Received: low=-1.",
        ),
        (
            lambda: kh.Int("units", 0, 10, step=0),
            ValueError,
            "expected 0 < step <= high - low (10). Received: step=0.",
        ),
        (
            lambda: kh.Float("rate", 0.0, 0.5, step=-0.1),
            ValueError,
            "expected 0 < step <= high - low (0.5). Received: step=-0.1.",
        ),
        (
            lambda: kh.Int("units", 0, 5, step=10),
            ValueError,
            "For Int('units'), expected 0 < step <= high - low (5). Received: step=10.",
        ),
        (
            lambda: kh.Float("rate", 0.0, 0.5, step=1.0),
            ValueError,
            "Received: step=1.0.",
        ),
        (
            lambda: kh.Int("units", 1, 100, step=2, log=True),
            ValueError,
            "For Int('units'), step and log=True cannot be combined. "
            "Received: step=2, log=True.",
        ),
        (
            lambda: kh.Float("lr", 0.1, 1.0, step=0.1, log=True),
            ValueError,
            "step and log=True cannot be combined",
        ),
        (
            lambda: kh.Choice("act", []),
            ValueError,
            "For Choice('act'), expected at least one value. Received: values=[].",
        ),
        (
            lambda: kh.Choice("act", [1, "a"]),
            ValueError,
            "For Choice('act'), expected values of one type among str, int, float "
            "and bool",
        ),
        (lambda: kh.Choice("act", [1, 2.5]), ValueError, "(types: float, int)"),
        (lambda: kh.Choice("act", [True, 1]), ValueError, "(types: bool, int)"),
        (
            lambda: kh.Choice("act", [[1], [2]]),
            ValueError,
            "expected values of one type",
        ),
        (
            lambda: kh.Choice("act", ["relu", "tanh", "relu"]),
            ValueError,
            "For Choice('act'), expected distinct values. "
            "Received: values=['relu', 'tanh', 'relu'].",
        ),
        (
            lambda: kh.Choice("act", "relu"),
            TypeError,
            "For Choice('act'), expected a list of values. Received: 'relu'.",
        ),
        (
            lambda: kh.Int("units", 32, 512, default=600),
            ValueError,
            "For Int('units'), expected a default between 32 and 512. "
            "Received: default=600.",
        ),
        (
            lambda: kh.Float("lr", 1e-4, 1e-1, log=True, default=0.5),
            ValueError,
            "For Float('lr'), expected a default between 0.0001 and 0.1. "
            "Received: default=0.5.",
        ),
        (
            lambda: kh.Int("units", 32, 512, step=32, default=100),
            ValueError,
            "For Int('units'), expected a default between 32 and 512 on the grid "
            "low + k * 32. Received: default=100.",
        ),
        (
            lambda: kh.Float("rate", 0.0, 0.5, step=0.1, default=0.25),
            ValueError,
            "on the grid low + k * 0.1. Received: default=0.25.",
        ),
        (
            lambda: kh.Choice("act", ["relu", "tanh"], default="gelu"),
            ValueError,
            "For Choice('act'), expected a default among ['relu', 'tanh']. "
            "Received: default='gelu'.",
        ),
        (
            lambda: kh.Choice("n", [1, 2], default=True),
            ValueError,
            "expected a default among [1, 2]. Received: default=True.",
        ),
        (
            lambda: kh.Boolean("bn", default=1),
            TypeError,
            "For Boolean('bn'), expected default True or False. Received: default=1.",
        ),
        (
            lambda: kh.Boolean("bn", default="yes"),
            TypeError,
            "Received: default='yes'.",
        ),
        (
            lambda: kh.Int("units", 1.5, 4),
            TypeError,
            "For Int('units'), expected an integer low. Received: low=1.5.",
        ),
        (
            lambda: kh.Int("units", 1, "4"),
            TypeError,
            "expected an integer high. Received: high='4'.",
        ),
        (
            lambda: kh.Int("units", 0, 10, step=2.5),
            TypeError,
            "expected an integer step. Received: step=2.5.",
        ),
        (
            lambda: kh.Int("units", 1, 4, default=2.5),
            TypeError,
            "expected an integer default. Received: default=2.5.",
        ),
        (
            lambda: kh.Int("units", True, 4),
            TypeError,
            "expected an integer low. Received: low=True.",
        ),
        (
            lambda: kh.Float("lr", float("nan"), 1.0),
            TypeError,
            "For Float('lr'), expected a finite number for low. Received: low=nan.",
        ),
        (
            lambda: kh.Float("lr", 0.0, float("inf")),
            TypeError,
            "expected a finite number for high. Received: high=inf.",
        ),
        (
            lambda: kh.Float("lr", 0.0, 1.0, default="0.5"),
            TypeError,
            "expected a finite number for default. Received: default='0.5'.",
        ),
        (
            lambda: kh.Fixed("callbacks", [1, 2]),
            TypeError,
            "For Fixed('callbacks'), expected a str, number, bool or None. "
            "Received: value=[1, 2].",
        ),
        (
            lambda: kh.Fixed(),
            TypeError,
            "Fixed() takes an optional name then value. Received: no arguments.",
        ),
    ],
)
def test_invalid_arguments_raise(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()


@pytest.mark.parametrize(
    "make",
    [
        lambda: kh.Int("", 1, 4),
        lambda: kh.Float("", 0.0, 1.0),
        lambda: kh.Choice("", ["a"]),
        lambda: kh.Fixed(5, 0),
        lambda: kh.Fixed(("a",), 0),
    ],
)
def test_name_must_be_a_non_empty_string(make):
    with pytest.raises(
        TypeError, match="A hyperparameter name must be a non-empty string"
    ):
        make()


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: kh.Int(5, 1, 4),
            "Int() takes an optional name then low, high. Received: 5, 1, 4.",
        ),
        (
            lambda: kh.Float(None, 0.0, 1.0),
            "Float() takes an optional name then low, high",
        ),
        (
            lambda: kh.Int("units", 1),
            "Int() takes an optional name then low, high. Received: 'units', 1.",
        ),
        (
            lambda: kh.Choice(1, ["a", "b"]),
            "Choice() takes an optional name then values",
        ),
        (
            lambda: kh.Choice("act"),
            "Choice() takes an optional name then values. Received: 'act'.",
        ),
    ],
)
def test_non_string_name_or_wrong_arity_is_rejected(make, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        make()


def test_same_name_with_different_definitions_raises():
    space = SearchSpace([kh.Int("units", 32, 512)])
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Hyperparameter 'units' is defined twice with different definitions"
        ),
    ):
        space.add(kh.Int("units", 32, 256))
    with pytest.raises(ValueError, match="give the second a name of its own"):
        SearchSpace([kh.Int("x", 1, 4), kh.Float("x", 1.0, 4.0)])


def test_same_definition_twice_is_one_dimension():
    space = SearchSpace()
    assert space.add(kh.Int("units", 32, 512, step=32)) is True
    assert space.add(kh.Int("units", 32, 512, step=32)) is False
    assert len(space) == 1
    assert SearchSpace([kh.Choice("a", ["x"]), kh.Choice("a", ["x"])]).names == ["a"]


def test_unnamed_dimension_cannot_join_a_space():
    with pytest.raises(
        ValueError, match=re.escape("has no name. A name may be left out only")
    ):
        SearchSpace().add(kh.Int(1, 4))
    with pytest.raises(ValueError, match="search\\(\\) keyword argument"):
        SearchSpace([kh.Choice(["a", "b"])])


# -- defaults, descriptions, naming ----------------------------------------------------


def test_defaults():
    assert kh.Int("a", 3, 9).default == 3
    assert kh.Float("b", 0.25, 1.0).default == 0.25
    assert kh.Choice("c", ["relu", "tanh"]).default == "relu"
    assert kh.Boolean("d").default is False
    assert kh.Boolean("d", default=True).default is True
    assert kh.Fixed("e", "adam").default == "adam"
    assert kh.Int("f", 32, 512, step=32, default=128).default == 128
    assert kh.Float("g", 1e-4, 1e-1, log=True, default=1e-3).default == 1e-3


def test_bound_types_are_normalized():
    dim = kh.Int("a", 1.0, np.int64(4), default=np.int32(2))
    assert (dim.low, dim.high, dim.default) == (1, 4, 2)
    assert all(type(v) is int for v in (dim.low, dim.high, dim.default))
    fdim = kh.Float("b", 0, 1)
    assert type(fdim.low) is float and type(fdim.high) is float
    assert kh.Boolean("c", default=np.bool_(True)).default is True
    assert kh.Choice("d", np.array([1, 2, 3])).choices == [1, 2, 3]
    assert type(kh.Choice("d", np.array([1, 2, 3])).choices[0]) is int


def test_none_may_join_choice_values():
    dim = kh.Choice("pooling", [None, "max", "avg"])
    assert dim.default is None
    assert dim.contains(None) and dim.contains("max")
    assert not dim.contains("None")
    assert kh.Choice("units", [16, 32, None], default=None).default is None
    assert kh.Choice("only", [None]).values() == [None]


def test_outside_a_build_markers_return_descriptions():
    dim = kh.Int("u", 1, 4)
    assert isinstance(dim, kh.Int)
    assert isinstance(dim, kh.Dimension)
    assert isinstance(kh.Float("f", 0.0, 1.0), kh.Float)
    assert isinstance(kh.Choice("c", ["a"]), kh.Choice)
    assert isinstance(kh.Boolean("b"), kh.Boolean)
    assert isinstance(kh.Fixed("x", 1), kh.Fixed)
    assert (dim.name, dim.low, dim.high) == ("u", 1, 4)


@pytest.mark.parametrize(
    "dim", [d for d in ALL_KINDS if d.name is None], ids=lambda d: type(d).__name__
)
def test_named_gives_a_named_copy(dim):
    named = dim.named("given")
    assert named.name == "given"
    assert dim.name is None
    assert type(named) is type(dim)
    config, named_config = dim.get_config(), named.get_config()
    config.pop("name"), named_config.pop("name")
    assert config == named_config


def test_named_keeps_every_setting():
    named = kh.Float(1e-4, 1e-1, log=True, default=1e-3).named("lr")
    assert named == kh.Float("lr", 1e-4, 1e-1, log=True, default=1e-3)


def test_equality_and_hash():
    assert kh.Int("a", 1, 4) == kh.Int("a", 1, 4)
    assert hash(kh.Int("a", 1, 4)) == hash(kh.Int("a", 1, 4))
    assert kh.Int("a", 1, 4) != kh.Int("a", 1, 5)
    assert kh.Int("a", 1, 4) != kh.Float("a", 1.0, 4.0)
    assert kh.Choice("a", [False, True]) != kh.Boolean("a")
    assert len({kh.Int("a", 1, 4), kh.Int("a", 1, 4), kh.Int("b", 1, 4)}) == 2


def test_repr_reads_like_the_call():
    assert repr(kh.Int("a", 1, 4)) == (
        "Int('a', low=1, high=4, step=None, log=False, default=1)"
    )
    assert repr(kh.Choice(["x", "y"])) == "Choice(values=['x', 'y'], default='x')"


# -- contains, cardinality, values -----------------------------------------------------


def test_int_contains():
    dim = kh.Int("a", 1, 4)
    assert all(dim.contains(v) for v in (1, 2, 4, np.int64(3)))
    assert not any(dim.contains(v) for v in (0, 5, "2", None, True))


def test_int_does_not_contain_a_fraction():
    dim = kh.Int("a", 1, 4)
    assert not dim.contains(2.5)


def test_check_values_rejects_a_fraction_for_an_int():
    space = SearchSpace([kh.Int("layers", 1, 4)])
    with pytest.raises(ValueError, match="is not a value of"):
        space.check_values({"layers": 2.5})


def test_stepped_contains():
    dim = kh.Int("u", 32, 512, step=32)
    assert dim.contains(32) and dim.contains(512) and dim.contains(128)
    assert not dim.contains(100) and not dim.contains(544)
    fdim = kh.Float("r", 0.0, 0.5, step=0.1)
    assert all(fdim.contains(v) for v in (0.0, 0.1, 0.2, 0.1 + 0.2, 0.5))
    assert not fdim.contains(0.25) and not fdim.contains(0.6)


def test_float_contains():
    dim = kh.Float("lr", 1e-4, 1e-1, log=True)
    assert dim.contains(1e-4) and dim.contains(0.05) and dim.contains(1e-1)
    assert not dim.contains(0.0) and not dim.contains(0.2)
    assert not dim.contains(True) and not dim.contains("0.01")


def test_choice_contains_respects_type():
    dim = kh.Choice("n", [1, 2, 3])
    assert dim.contains(2)
    assert not dim.contains(True)  # True == 1 in Python, but not a value of this Choice
    assert not dim.contains("2")
    assert kh.Boolean("b").contains(False)
    assert not kh.Boolean("b").contains(0)


def test_fixed_contains():
    assert kh.Fixed("seed", 0).contains(0)
    assert not kh.Fixed("seed", 0).contains(1)
    assert not kh.Fixed("seed", 0).contains(False)


def test_cardinality():
    assert kh.Int("a", 1, 4).cardinality() == 4
    assert kh.Int("a", 32, 512, step=32).cardinality() == 16
    assert kh.Int("a", 0, 10, step=3).cardinality() == 4
    assert kh.Float("f", 0.0, 1.0).cardinality() == math.inf
    assert kh.Float("f", 0.0, 0.5, step=0.1).cardinality() == 6
    assert kh.Choice("c", ["a", "b", "c"]).cardinality() == 3
    assert kh.Boolean("b").cardinality() == 2
    assert kh.Fixed("x", 1).cardinality() == 1


def test_values():
    assert kh.Int("a", 1, 4).values() == [1, 2, 3, 4]
    assert kh.Int("a", 32, 128, step=32).values() == [32, 64, 96, 128]
    assert kh.Int("a", 0, 10, step=3).values() == [0, 3, 6, 9]
    assert kh.Float("f", 0.0, 0.5, step=0.1).values() == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert kh.Float("f", 0.0, 0.3, step=0.1).values() == [0.0, 0.1, 0.2, 0.3]
    assert kh.Float("f", 0.1, 1.0, step=0.3).values() == [0.1, 0.4, 0.7, 1.0]
    assert kh.Choice("c", ["x", "y"]).values() == ["x", "y"]
    assert kh.Boolean("b").values() == [False, True]
    assert kh.Fixed("x", 7).values() == [7]
    assert all(type(v) is int for v in kh.Int("a", 0, 9, step=3).values())
    assert all(type(v) is float for v in kh.Float("f", 0.0, 0.5, step=0.1).values())


def test_continuous_float_has_no_values():
    with pytest.raises(
        ValueError,
        match=re.escape("Float('f') has no step, so its values are not finite."),
    ):
        kh.Float("f", 0.0, 1.0).values()


# -- sampling --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dim", [d for d in ALL_KINDS if d.name is not None], ids=lambda d: d.name
)
def test_samples_are_values_of_the_dimension(dim):
    rng = np.random.default_rng(0)
    for _ in range(300):
        value = dim.sample(rng)
        assert dim.contains(value), value
    if isinstance(dim, kh.Int):
        assert type(dim.sample(rng)) is int
    if isinstance(dim, kh.Float):
        assert type(dim.sample(rng)) is float
    # Deterministic for a seeded generator.
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    samples_a = [dim.sample(rng_a) for _ in range(20)]
    assert samples_a == [dim.sample(rng_b) for _ in range(20)]


def test_stepped_samples_cover_the_grid():
    rng = np.random.default_rng(0)
    dim = kh.Float("r", 0.0, 0.5, step=0.1)
    samples = {dim.sample(rng) for _ in range(300)}
    assert samples == {0.0, 0.1, 0.2, 0.3, 0.4, 0.5}
    idim = kh.Int("u", 32, 128, step=32)
    assert {idim.sample(rng) for _ in range(200)} == {32, 64, 96, 128}
    assert {kh.Int("a", 1, 3).sample(rng) for _ in range(200)} == {1, 2, 3}


def test_log_float_samples_spread_over_decades():
    rng = np.random.default_rng(0)
    dim = kh.Float("lr", 1e-4, 1e-1, log=True)
    samples = np.array([dim.sample(rng) for _ in range(3000)])
    assert samples.min() >= 1e-4 and samples.max() <= 1e-1
    for low, high in [(1e-4, 1e-3), (1e-3, 1e-2), (1e-2, 1e-1)]:
        share = np.mean((samples >= low) & (samples < high))
        assert 0.28 < share < 0.39, (low, high, share)


def test_log_int_samples_spread_over_decades():
    rng = np.random.default_rng(0)
    dim = kh.Int("units", 1, 1000, log=True)
    samples = np.array([dim.sample(rng) for _ in range(3000)])
    assert samples.min() >= 1 and samples.max() <= 1000
    assert 0.25 < np.mean(samples < 10) < 0.42
    assert 0.25 < np.mean(samples >= 100) < 0.42


def test_linear_float_samples_are_uniform():
    rng = np.random.default_rng(0)
    samples = np.array([kh.Float("x", 0.0, 1.0).sample(rng) for _ in range(3000)])
    assert 0.45 < np.mean(samples < 0.5) < 0.55


def test_different_seeds_sample_differently():
    dim = kh.Float("x", 0.0, 1.0)
    a = [dim.sample(np.random.default_rng(1)) for _ in range(3)]
    b = [dim.sample(np.random.default_rng(2)) for _ in range(3)]
    assert a != b


# -- serialization ---------------------------------------------------------------------


@pytest.mark.parametrize("dim", ALL_KINDS, ids=repr)
def test_dimension_config_round_trip(dim):
    config = dim.get_config()
    restored = space_module.from_config(config)
    assert restored == dim
    assert type(restored) is type(dim)
    assert restored.get_config() == config
    # The store keeps configs as JSON: that round trip loses nothing either.
    from_json = space_module.from_config(json.loads(json.dumps(config)))
    assert from_json == dim
    assert type(from_json.default) is type(dim.default)
    if dim.cardinality() < math.inf:
        assert from_json.values() == dim.values()


def test_from_config_rejects_an_unknown_kind():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Unknown dimension kind 'Complex'; expected one of ['Boolean', 'Choice'"
        ),
    ):
        space_module.from_config({"kind": "Complex", "name": "x"})


def test_from_config_is_a_description_inside_a_build():
    # Restoring a config must not be mistaken for a marker call.
    restored = kh.Int.from_config(kh.Int("a", 1, 4).get_config())
    assert isinstance(restored, kh.Int)


def test_search_space_round_trip():
    space = SearchSpace([d for d in ALL_KINDS if d.name is not None])
    config = space.get_config()
    assert isinstance(config, list) and len(config) == len(space)
    restored = SearchSpace.from_config(config)
    assert restored == space
    assert restored.names == space.names
    restored_json = SearchSpace.from_config(json.loads(json.dumps(config)))
    assert restored_json == space
    assert [type(d) for d in restored_json] == [type(d) for d in space]


def test_empty_search_space_round_trip():
    assert SearchSpace.from_config(SearchSpace().get_config()) == SearchSpace()
    assert repr(SearchSpace()) == "SearchSpace([])"


# -- SearchSpace -----------------------------------------------------------------------


def _space():
    return SearchSpace(
        [
            kh.Int("layers", 1, 4, default=2),
            kh.Float("dropout", 0.0, 0.5, step=0.1),
            kh.Choice("act", ["relu", "tanh"]),
            kh.Boolean("bn"),
            kh.Fixed("seed", 0),
        ]
    )


def test_search_space_container():
    space = _space()
    assert len(space) == 5
    assert space.names == ["layers", "dropout", "act", "bn", "seed"]
    assert "act" in space and "units" not in space
    assert space["layers"] == kh.Int("layers", 1, 4, default=2)
    assert [d.name for d in space] == space.names
    copy = space.copy()
    copy.add(kh.Int("units", 8, 16))
    assert len(copy) == 6 and len(space) == 5


def test_search_space_defaults():
    assert _space().defaults() == {
        "layers": 2,
        "dropout": 0.0,
        "act": "relu",
        "bn": False,
        "seed": 0,
    }
    space = SearchSpace([kh.Int("layers", 1, 4), kh.Float("dropout", 0.0, 0.5)])
    assert space.defaults() == {"layers": 1, "dropout": 0.0}


def test_search_space_complete():
    space = _space()
    completed = space.complete({"act": "tanh", "layers": 3, "unknown": 1})
    assert completed == {
        "layers": 3,
        "dropout": 0.0,
        "act": "tanh",
        "bn": False,
        "seed": 0,
    }
    assert list(completed) == space.names  # in space order, unknown names dropped
    assert space.complete({}) == space.defaults()


def test_search_space_check_values():
    space = _space()
    space.check_values({"layers": 4, "dropout": 0.3, "act": "tanh", "unknown": "x"})
    with pytest.raises(
        ValueError,
        match=re.escape("In params, 7 is not a value of Int('layers', low=1, high=4"),
    ):
        space.check_values({"layers": 7})
    with pytest.raises(
        ValueError, match=re.escape("In values, 'gelu' is not a value of Choice('act'")
    ):
        space.check_values({"act": "gelu"}, argument="values")
    with pytest.raises(ValueError, match="0.25 is not a value of Float\\('dropout'"):
        space.check_values({"dropout": 0.25})
    with pytest.raises(ValueError, match="1 is not a value of Fixed\\('seed'"):
        space.check_values({"seed": 1})


def test_searchable_excludes_fixed():
    space = _space()
    assert [d.name for d in space.searchable()] == ["layers", "dropout", "act", "bn"]
    assert SearchSpace([kh.Fixed("seed", 0)]).searchable() == []


def test_search_space_cardinality():
    assert _space().cardinality() == 4 * 6 * 2 * 2 * 1
    assert SearchSpace().cardinality() == 1
    assert (
        SearchSpace([kh.Int("a", 1, 2), kh.Float("f", 0.0, 1.0)]).cardinality()
        == math.inf
    )


def test_search_space_equality():
    assert _space() == _space()
    other = _space()
    other.add(kh.Int("units", 8, 16))
    assert other != _space()
    assert SearchSpace([kh.Int("a", 1, 2), kh.Int("b", 1, 2)]) != SearchSpace(
        [kh.Int("b", 1, 2), kh.Int("a", 1, 2)]
    )
