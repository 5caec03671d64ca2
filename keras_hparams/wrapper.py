"""`kh.TunableModel`: tune an existing compiled model from the outside."""

from __future__ import annotations


class TunableModel:
    """Placeholder until the TunableModel issue lands."""

    def __init__(self, *args, **kwargs) -> None:
        raise NotImplementedError(
            "kh.TunableModel is not implemented yet; decorate the function that builds "
            "the model with @kh.tunable instead."
        )
