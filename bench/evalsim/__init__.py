"""evalsim: an independent generator of TIRF exocytosis movies, for evaluation only.

Written from published descriptions of TIRF exocytosis imaging (see README.md here), without
the project's own simulator (``exodeepfinder.simulation``): no shared code, parameters or
assumptions. The project never trains on these movies; they measure how well detection holds
on data it was not tuned to (``bench/generalisation.py``).

    from bench.evalsim import simulate, FAMILIES
    sim = simulate("default", seed=900000)      # sim.movie (uint16 [t, y, x]), sim.events, sim.mask
"""

from .families import FAMILIES, Family, get_family
from .seeds import CALIBRATION_SEEDS, TEST_SEEDS, seeds_of
from .simulate import DEFAULT_EVENTS, DEFAULT_SHAPE, GENERATOR, Simulation, simulate

__all__ = ["FAMILIES", "Family", "get_family", "simulate", "Simulation", "GENERATOR", "DEFAULT_SHAPE",
           "DEFAULT_EVENTS", "TEST_SEEDS", "CALIBRATION_SEEDS", "seeds_of"]
