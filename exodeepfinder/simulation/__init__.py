"""Simulated TIRF movies of exocytosis with their ground truth."""

from .simulate import Simulation, simulate_movie  # noqa: F401
