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

# Newton steps of the zero-Doppler solve at most; the error shrinks quadratically, so
# three or four reach the tolerance (seconds; a 1e-5 of a line) from the scene's mid time
_NEWTON_STEPS = 10
_TIME_TOLERANCE = 1e-8
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
    def _cubics(self) -> np.ndarray:
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
        position, velocity, acceleration = self._state_axes(np.asarray(time, dtype=np.float64))
        return np.stack(position, -1), np.stack(velocity, -1), np.stack(acceleration, -1)

    def _state_axes(self, time: np.ndarray) -> tuple[Axes, Axes, Axes]:
        """x, y, z of position, velocity and acceleration at ``time``, each of its shape.

        Points are evaluated interval by interval with scalar coefficients: an output
        chunk spans a second or two of azimuth time, so one or two intervals.
        """
        index = np.clip(np.searchsorted(self.times, time) - 1, 0, self.times.size - 2)
        intervals = np.unique(index)
        out = [np.empty(time.shape) for _ in range(9)]
        for interval in intervals.tolist():
            here = slice(None) if intervals.size == 1 else index == interval
            since = time[here] - self.times[interval]
            for axis in range(3):
                c0, c1, c2, c3 = self._cubics[interval, :, axis].tolist()
                out[axis][here] = ((c3 * since + c2) * since + c1) * since + c0
                out[3 + axis][here] = (3.0 * c3 * since + 2.0 * c2) * since + c1
                out[6 + axis][here] = 6.0 * c3 * since + 2.0 * c2
        return (out[0], out[1], out[2]), (out[3], out[4], out[5]), (out[6], out[7], out[8])

    def zero_doppler(self, target: Axes, first_guess: float) -> tuple[np.ndarray, np.ndarray]:
        """Azimuth time (s after ``epoch``) and slant range (m) of Earth-fixed ``target`` (x, y, z).

        Zero Doppler is the time the line of sight is perpendicular to the velocity:
        ``f(t) = (target - S(t)) . V(t) = 0``, solved by Newton's method from ``first_guess``
        with ``f'(t) = (target - S) . A - V . V``.
        """
        time = np.full(target[0].shape, first_guess)
        for _ in range(_NEWTON_STEPS):
            position, velocity, acceleration = self._state_axes(time)
            offset = [t - p for t, p in zip(target, position, strict=True)]
            doppler = sum(o * v for o, v in zip(offset, velocity, strict=True))
            slope = sum(o * a for o, a in zip(offset, acceleration, strict=True)) - sum(
                v * v for v in velocity
            )
            step = doppler / slope
            time -= step
            if np.abs(step).max() < _TIME_TOLERANCE:
                break
        position, _, _ = self._state_axes(time)
        distance = np.sqrt(sum((t - p) ** 2 for t, p in zip(target, position, strict=True)))
        return time, distance


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
