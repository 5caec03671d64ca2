"""The objective's axis: linear or log, a range set by the bulk of the scores, and
the far outliers (a diverged trial) marked at its edge with their value."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from keras_hparams import outliers
from keras_hparams.progress import format_value

YSCALES = ("auto", "linear", "log")
_MARGIN = 0.07  # of the range, on each side
_OUTLIER = "tab:red"


def use_log(scores: Sequence[float], direction: str, yscale: str) -> bool:
    """Whether the objective's axes are logarithmic for `yscale`.

    `"auto"` picks log for a positive objective to minimize (a loss, an error) whose
    scores span more than a decade between their 10th and 90th percentiles.

    Raises:
        ValueError: `yscale="log"` and a score is not positive.
    """
    finite = [s for s in scores if s is not None and np.isfinite(s)]
    if yscale == "log":
        lowest = min(finite, default=1.0)
        if lowest <= 0:
            raise ValueError(
                "plot(yscale='log') needs positive scores. Received: a score of "
                f"{format_value(lowest)}. Pass yscale='linear' or 'auto'."
            )
        return True
    return yscale == "auto" and direction == "min" and outliers.spans_decades(finite)


@dataclasses.dataclass
class ScoreAxis:
    """A y axis for objective values: its scale and its range."""

    log: bool
    low: float
    high: float

    @classmethod
    def fit(cls, values: Sequence[float], log: bool) -> ScoreAxis:
        """The axis showing every value of `values` that is not a far outlier."""
        low, high = outliers.inlier_range(values, log=log)
        if log:
            low, high = np.log10(low), np.log10(high)
        margin = _MARGIN * (high - low) or 0.05 * (abs(high) or 1.0)
        low, high = low - margin, high + margin
        if log:
            return cls(True, float(10.0**low), float(10.0**high))
        return cls(False, float(low), float(high))

    def apply(self, ax) -> None:
        ax.set_yscale("log" if self.log else "linear")
        ax.set_ylim(self.low, self.high)
        plain_ticks(ax.yaxis, self.log)

    def mark_outside(
        self,
        ax,
        x: Sequence,
        y: Sequence[float],
        trial_ids: Sequence[int] = (),
        *,
        in_legend: bool = False,
    ) -> int:
        """Marks the points of `y` outside the range at the edge they passed.

        The most extreme value on each side (and its trial, if `trial_ids` are
        given) is written in the marks' legend label if `in_legend` (for a panel
        with a legend, which then never hides it), else beside the mark.

        Returns:
            How many points were marked.
        """
        x, y = np.asarray(x), np.asarray(y, dtype=float)
        marked = 0
        for side, marker, edge in (("above", "^", 0.965), ("below", "v", 0.035)):
            outside = (y > self.high) if side == "above" else (y < self.low)
            outside &= np.isfinite(y)
            if not outside.any():
                continue
            marked += int(outside.sum())
            signed = y if side == "above" else -y
            extreme = int(np.argmax(np.where(outside, signed, -np.inf)))
            text = format_value(float(y[extreme]))
            if len(trial_ids):
                text += f" (trial {trial_ids[extreme]})"
            label = f"{side} the range: {text}" if in_legend else "outside the range"
            ax.plot(
                x[outside],
                np.full(outside.sum(), edge),
                marker,
                color=_OUTLIER,
                ms=9,
                transform=ax.get_xaxis_transform(),
                clip_on=False,
                label=label,
            )
            if not in_legend:
                ax.annotate(
                    text,
                    (x[extreme], edge + (-0.06 if edge > 0.5 else 0.06)),
                    xycoords=ax.get_xaxis_transform(),
                    fontsize="small",
                    ha=_alignment(ax, x[extreme]),
                    color=_OUTLIER,
                    va="top" if edge > 0.5 else "bottom",
                )
        return marked


def _alignment(ax, x: float) -> str:
    """Text alignment that keeps a label at `x` inside the panel."""
    to_axes = ax.transData + ax.transAxes.inverted()
    fraction = to_axes.transform((x, 1.0 if ax.get_yscale() == "log" else 0.0))[0]
    if fraction > 0.8:
        return "right"
    return "left" if fraction < 0.2 else "center"


def plain_ticks(axis, log: bool) -> None:
    """Tick labels as plain numbers (0.2, not 2x10^-1), without an offset."""
    if not log:
        axis.get_major_formatter().set_useOffset(False)
        return
    from matplotlib import ticker

    class Plain(ticker.LogFormatterSciNotation):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:.3g}" if super().__call__(x, pos) else ""

    axis.set_major_formatter(Plain())
    axis.set_minor_formatter(Plain(labelOnlyBase=False))
