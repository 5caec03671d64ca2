"""The search space as TensorBoard's HParams dashboard declares it.

Each dimension becomes an `HParam` with its whole domain: an interval for a range,
every value for a choice or a short grid. The experiment configuration that lists
them, with the metrics, is written into the folder that holds every trial's folder,
replacing the one a previous trial wrote there. tensorboard is imported inside the
functions that need it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from keras_hparams.space import Choice, Dimension, Fixed, Int, SearchSpace

CONFIG_SUFFIX = ".hparams_config"
# A stepped range with at most this many values lists them all.
_MAX_LISTED = 64


def plain(value: Any) -> bool | int | float | str:
    """A value the HParams summary accepts: bool, int, float or str."""
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return str(value)


def as_domain_value(dimension: Dimension, value: Any) -> bool | int | float | str:
    """`value` as `dimension`'s domain lists it: all of one type, as the dashboard
    needs (a choice of values and None lists strings)."""
    if isinstance(dimension, (Choice, Fixed)):
        kinds = {type(plain(v)) for v in _choices(dimension)}
        return plain(value) if len(kinds) == 1 else str(plain(value))
    if isinstance(dimension, Int):
        return int(value)
    return float(value)


def domain(dimension: Dimension) -> Any:
    """The HParams domain of `dimension`: a `Discrete` list of every value, or an
    `IntInterval` / `RealInterval` for a range too long to list."""
    from tensorboard.plugins.hparams import summary_v2 as hp

    if isinstance(dimension, (Choice, Fixed)):
        values = [as_domain_value(dimension, v) for v in _choices(dimension)]
        return hp.Discrete(list(dict.fromkeys(values)))
    if dimension.step is not None and dimension.cardinality() <= _MAX_LISTED:
        return hp.Discrete([as_domain_value(dimension, v) for v in dimension.values()])
    if isinstance(dimension, Int):
        return hp.IntInterval(int(dimension.low), int(dimension.high))
    return hp.RealInterval(float(dimension.low), float(dimension.high))


def write_config(
    folder: Path,
    space: SearchSpace,
    values: dict[str, Any],
    objective_name: str,
    metric_names: list[str],
) -> Path:
    """Writes the experiment's configuration into `folder`, replacing an earlier one.

    Args:
        folder: the `log_dir` that holds the trial folders.
        space: the search space: one `HParam` per dimension, with its domain.
        values: a trial's values: a name the space lacks (a hyperparameter found
            later) is declared too, without a domain.
        objective_name: the first metric: the score each trial folder holds.
        metric_names: the keys of Keras's logs; each becomes the `epoch_<name>`
            scalar Keras's TensorBoard callback writes in `train` or `validation`.

    Returns:
        The configuration's event file left in `folder`: this one, or one written
        at the same time by another process.
    """
    import tensorflow as tf
    from tensorboard.plugins.hparams import summary_v2 as hp

    hparams = [hp.HParam(d.name, domain(d)) for d in space]
    hparams += [hp.HParam(name) for name in values if name not in space]
    metrics = [hp.Metric(objective_name, display_name=f"{objective_name} (score)")]
    for name in metric_names:
        if name.startswith("val_"):
            metrics.append(hp.Metric(f"epoch_{name[4:]}", group="validation"))
        else:
            metrics.append(hp.Metric(f"epoch_{name}", group="train"))
    folder.mkdir(parents=True, exist_ok=True)
    writer = tf.summary.create_file_writer(str(folder), filename_suffix=CONFIG_SUFFIX)
    with writer.as_default():
        hp.hparams_config(hparams=hparams, metrics=metrics)
    writer.close()
    # Trials that end together in worker processes or on Dask workers each write
    # theirs: every writer keeps the newest by its name, so they agree on the one
    # left and none deletes it.
    written = sorted(folder.glob(f"events.out.tfevents.*{CONFIG_SUFFIX}"), key=_order)
    for old in written[:-1]:
        old.unlink(missing_ok=True)
    return written[-1]


def _order(path: Path) -> tuple[int, str, int, int]:
    """When an event file was written, from its name: TensorFlow names it
    `events.out.tfevents.<seconds>.<host>.<pid>.<count><suffix>`."""
    fields = path.name[len("events.out.tfevents.") : -len(CONFIG_SUFFIX)].split(".")
    try:
        return int(fields[0]), ".".join(fields[1:-2]), int(fields[-2]), int(fields[-1])
    except (ValueError, IndexError):  # another writer's naming: oldest
        return -1, path.name, 0, 0


def _choices(dimension: Dimension) -> list[Any]:
    if isinstance(dimension, Fixed):
        return [dimension.value]
    return list(dimension.choices)
