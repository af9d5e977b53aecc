"""Independent, reproducible random streams: one per (seed, purpose).

Every network of an experiment owns a seed; its training data, its initialisation and its
fresh test points come from separate streams derived from that seed alone, so a network's
numbers never depend on which other networks share its ensemble or its worker.
"""

import numpy as np

STREAMS = {"data": 1, "init": 2, "test": 3, "gates": 4, "explore": 5, "search": 6}
MAX_SEED = 2**63 - 1  # seeds are integers in [0, 2^63)


def rng_for(seed: int, stream: str) -> np.random.Generator:
    """The generator of `stream` for `seed` (NumPy PCG64 over SeedSequence([seed, stream id]))."""
    return np.random.default_rng(np.random.SeedSequence([seed, STREAMS[stream]]))
