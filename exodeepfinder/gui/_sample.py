"""napari sample data: a simulated TIRF movie with its true exocytosis events."""

from __future__ import annotations

from . import layers

#: Size of the sample movie (frames, height, width): small, so that Detect runs in seconds on a laptop.
SAMPLE_SHAPE = (60, 96, 96)
SAMPLE_EVENTS = 8
SAMPLE_SEED = 7


def simulated_movie(shape=SAMPLE_SHAPE, n_events: int = SAMPLE_EVENTS, seed: int = SAMPLE_SEED) -> list[tuple]:
    """A simulated movie (image layer) and its true events (points layer ``true events``).

    The movie holds docked vesicles, distractors (flashes, flickering and moving spots) and
    ``n_events`` fusion events (:func:`exodeepfinder.simulation.simulate_movie`).
    """
    from ..simulation import simulate_movie

    simulation = simulate_movie(shape, n_events=n_events, seed=seed)
    return [layers.movie_layer(simulation.movie, name="simulated movie"),
            layers.events_layer(simulation.events, name="true events")]
