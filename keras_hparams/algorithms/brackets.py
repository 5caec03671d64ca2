"""Hyperband's schedule: rungs of epochs, brackets of successive halving.

Pure arithmetic, no trials: `Schedule(max_epochs, factor, min_epochs)` gives the
epochs of each rung and the shape of each bracket, as Li et al. define them
("Hyperband: A Novel Bandit-Based Approach to Hyperparameter Optimization", 2018).
With `R = max_epochs` and `s_max = floor(log_factor(R / min_epochs))`, the rungs
train to `R / factor**k` epochs (rounded), `k = s_max, ..., 0`. Bracket kind `s`
(`s = s_max, ..., 0`, in turn) starts `ceil((s_max + 1) / (s + 1) * factor**s)`
configurations at `R / factor**s` epochs and keeps the best `1 / factor` of them at
each rung up to `R`: with `R = 9`, `factor = 3`, the brackets are 9 configurations
at 1 epoch, 3 of them at 3, 1 at 9; then 5 at 3, 1 at 9; then 3 at 9; then again.
"""

from __future__ import annotations

import dataclasses
import math

from keras_hparams.checks import check_int


@dataclasses.dataclass(frozen=True)
class Bracket:
    """One bracket of successive halving.

    Attributes:
        index: int, 0 for the search's first bracket.
        epochs: tuple of int, the epochs each rung trains its trials to, ascending.
        sizes: tuple of int, how many trials each rung holds: all the bracket's
            configurations at the first, the best `1 / factor` of the previous
            rung's at each next one (at least one).
    """

    index: int
    epochs: tuple[int, ...]
    sizes: tuple[int, ...]

    @property
    def configurations(self) -> int:
        return self.sizes[0]

    def total_epochs(self) -> int:
        """The epochs trained when every run of the bracket continues its trial
        from the previous rung's state (never from scratch)."""
        done, total = 0, 0
        for epochs, size in zip(self.epochs, self.sizes, strict=True):
            total += size * (epochs - done)
            done = epochs
        return total


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The rungs and brackets of a Hyperband search.

    Args:
        max_epochs: int, the epochs of the last rung: a trial that reaches it is
            trained like a trial of a plain search.
        factor: int, the ratio between a rung's epochs and the next's, and between
            a rung's trials and the next's. Defaults to `3`.
        min_epochs: int, the fewest epochs a rung may have. Defaults to `1`.

    Example:

    >>> Schedule(9, 3).rungs
    (1, 3, 9)
    >>> [b.sizes for b in Schedule(9, 3).brackets(17)]
    [(9, 3, 1), (5, 1), (3,)]
    """

    max_epochs: int
    factor: int = 3
    min_epochs: int = 1

    def __post_init__(self) -> None:
        check_int("Hyperband", "max_epochs", self.max_epochs, 1)
        check_int("Hyperband", "factor", self.factor, 2)
        check_int("Hyperband", "min_epochs", self.min_epochs, 1)
        if self.min_epochs > self.max_epochs:
            raise ValueError(
                "For Hyperband, expected min_epochs <= max_epochs. Received: "
                f"min_epochs={self.min_epochs}, max_epochs={self.max_epochs}."
            )

    @property
    def s_max(self) -> int:
        """The number of halvings of the longest bracket."""
        ratio = self.max_epochs / self.min_epochs
        # The small margin keeps exact powers (27 / 1 with factor 3) exact.
        return int(math.floor(math.log(ratio) / math.log(self.factor) + 1e-9))

    @property
    def rungs(self) -> tuple[int, ...]:
        """The epochs of every rung, ascending, the last `max_epochs`."""
        epochs = [
            max(self.min_epochs, round(self.max_epochs / self.factor**k))
            for k in range(self.s_max, -1, -1)
        ]
        return tuple(sorted(set(epochs)))

    def kind(self, index: int) -> int:
        """The halvings `s` of bracket `index`: `s_max`, `s_max - 1`, ..., 0, again."""
        levels = len(self.rungs)
        return levels - 1 - index % levels

    def full_size(self, index: int) -> int:
        """How many configurations bracket `index` starts when nothing cuts it."""
        s = self.kind(index)
        levels = len(self.rungs)
        return math.ceil(levels / (s + 1) * self.factor**s)

    def bracket(self, index: int, configurations: int | None = None) -> Bracket:
        """Bracket `index`, with `configurations` trials at its first rung if the
        search has fewer left than the bracket's full size."""
        s = self.kind(index)
        n = self.full_size(index) if configurations is None else configurations
        sizes = tuple(max(1, n // self.factor**i) for i in range(s + 1))
        return Bracket(index, self.rungs[len(self.rungs) - 1 - s :], sizes)

    def brackets(self, max_trials: int) -> list[Bracket]:
        """The brackets of a search of `max_trials` configurations: whole ones in
        turn, the last cut to the configurations left."""
        brackets, left = [], max_trials
        while left > 0:
            n = min(left, self.full_size(len(brackets)))
            brackets.append(self.bracket(len(brackets), n))
            left -= n
        return brackets

    def total_epochs(self, max_trials: int) -> int:
        """The epochs a search of `max_trials` configurations trains in all."""
        return sum(b.total_epochs() for b in self.brackets(max_trials))

    def get_config(self) -> dict[str, int]:
        return {
            "max_epochs": self.max_epochs,
            "factor": self.factor,
            "min_epochs": self.min_epochs,
        }
