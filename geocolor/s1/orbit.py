"""Satellite orbit from the annotation's state vectors, and the zero-Doppler solve.

An IW GRD annotation lists Earth-fixed positions and velocities every 10 s
(``generalAnnotation/orbitList``). Between two vectors the orbit is a cubic Hermite
curve through both positions with both velocities as tangents: centimetre-accurate over
10 s of a low orbit, with velocity and acceleration from its derivatives. Times are
seconds from a reference instant (the product's first line), so float64 keeps them to
nanoseconds.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import numpy as np

from geocolor.errors import GeocolorError
from geocolor.io.xml import required_number, required_time

_AXES = ("x", "y", "z")


Axes = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class Orbit:
    """State vectors at ``times`` (s after ``epoch``), positions and velocities (m, m/s)."""

    epoch: datetime
    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray

    @cached_property
    def cubics(self) -> np.ndarray:
        """(interval, power, axis) coefficients of each interval's Hermite cubic in the
        seconds since the interval's start."""
        step = np.diff(self.times)[:, None]
        p0, p1 = self.positions[:-1], self.positions[1:]
        v0, v1 = self.velocities[:-1], self.velocities[1:]
        square = (3.0 * (p1 - p0) / step - 2.0 * v0 - v1) / step
        cube = (2.0 * (p0 - p1) / step + v0 + v1) / (step * step)
        return np.stack([p0, v0, square, cube], axis=1)

    def state(self, time: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position, velocity and acceleration (..., 3) at ``time`` (s after ``epoch``)."""
        from geocolor.s1 import range_doppler_kernels  # numba: imported on first use

        time = np.asarray(time, dtype=np.float64)
        states = np.empty((time.size, 9))
        range_doppler_kernels.orbit_states(self.times, self.cubics, time.ravel(), states)
        states = states.reshape(*time.shape, 3, 3)
        return states[..., 0, :], states[..., 1, :], states[..., 2, :]

    def zero_doppler(self, target: Axes, first_guess: float) -> tuple[np.ndarray, np.ndarray]:
        """Azimuth time (s after ``epoch``) and slant range (m) of Earth-fixed ``target`` (x, y, z).

        Zero Doppler is the time the line of sight is perpendicular to the velocity:
        ``f(t) = (target - S(t)) . V(t) = 0``, solved point by point by Newton's method
        from ``first_guess`` (see :mod:`geocolor.s1.range_doppler_kernels`).
        """
        from geocolor.s1 import range_doppler_kernels  # numba: imported on first use

        x, y, z = (np.ascontiguousarray(axis, dtype=np.float64).ravel() for axis in target)
        time, distance = np.empty(x.size), np.empty(x.size)
        range_doppler_kernels.zero_doppler(
            self.times, self.cubics, x, y, z, float(first_guess), time, distance
        )
        shape = np.shape(target[0])
        return time.reshape(shape), distance.reshape(shape)


def parse_orbit(root: ET.Element, epoch: datetime, source: str) -> Orbit:
    """The annotation's ``orbitList`` as an :class:`Orbit` with times after ``epoch``."""
    vectors = root.findall("{*}generalAnnotation/{*}orbitList/{*}orbit")
    if len(vectors) < 2:
        raise GeocolorError(f"{source}: the orbit list needs at least 2 state vectors.")
    times = np.array(
        [(required_time(v, "{*}time", source) - epoch).total_seconds() for v in vectors]
    )
    order = np.argsort(times)
    if np.any(np.diff(times[order]) <= 0):
        raise GeocolorError(f"{source}: the orbit list repeats a state-vector time.")
    positions, velocities = (
        np.array(
            [[required_number(v, f"{{*}}{kind}/{{*}}{a}", source) for a in _AXES] for v in vectors]
        )
        for kind in ("position", "velocity")
    )
    return Orbit(epoch, times[order], positions[order], velocities[order])


def _component(vector: ET.Element, kind: str, axis: str, source: str) -> float:
    return required_number(vector, f"{{*}}{kind}/{{*}}{axis}", source)
