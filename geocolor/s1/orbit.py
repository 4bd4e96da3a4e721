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

import numpy as np

from geocolor.errors import GeocolorError
from geocolor.io.xml import required_number, required_time

# Newton steps of the zero-Doppler solve; each multiplies the time error by roughly the
# orbit's curvature over the step, so a few reach nanoseconds from the scene's mid time
_NEWTON_STEPS = 6
_AXES = ("x", "y", "z")


@dataclass(frozen=True, eq=False)
class Orbit:
    """State vectors at ``times`` (s after ``epoch``), positions and velocities (m, m/s)."""

    epoch: datetime
    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray

    def state(self, time: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position, velocity and acceleration (..., 3) at ``time`` (s after ``epoch``)."""
        index = np.clip(np.searchsorted(self.times, time) - 1, 0, self.times.size - 2)
        t0 = self.times[index]
        step = self.times[index + 1] - t0
        u = ((time - t0) / step)[..., None]
        step = step[..., None]
        p0, p1 = self.positions[index], self.positions[index + 1]
        m0, m1 = self.velocities[index] * step, self.velocities[index + 1] * step
        u2, u3 = u * u, u * u * u
        position = (
            (2 * u3 - 3 * u2 + 1) * p0 + (u3 - 2 * u2 + u) * m0 + (-2 * u3 + 3 * u2) * p1
        ) + (u3 - u2) * m1
        velocity = ((6 * u2 - 6 * u) * p0 + (3 * u2 - 4 * u + 1) * m0 + (6 * u - 6 * u2) * p1) + (
            3 * u2 - 2 * u
        ) * m1
        acceleration = ((12 * u - 6) * (p0 - p1) + (6 * u - 4) * m0) + (6 * u - 2) * m1
        return position, velocity / step, acceleration / (step * step)

    def zero_doppler(self, target: np.ndarray, first_guess: float) -> tuple[np.ndarray, np.ndarray]:
        """Azimuth time (s after ``epoch``) and slant range (m) of Earth-fixed ``target`` (..., 3).

        Zero Doppler is the time the line of sight is perpendicular to the velocity:
        ``f(t) = (target - S(t)) . V(t) = 0``, solved by Newton's method from ``first_guess``
        with ``f'(t) = (target - S) . A - V . V``.
        """
        time = np.full(target.shape[:-1], first_guess)
        for _ in range(_NEWTON_STEPS):
            position, velocity, acceleration = self.state(time)
            offset = target - position
            doppler = np.einsum("...k,...k->...", offset, velocity)
            slope = np.einsum("...k,...k->...", offset, acceleration) - np.einsum(
                "...k,...k->...", velocity, velocity
            )
            time = time - doppler / slope
        position, _, _ = self.state(time)
        return time, np.linalg.norm(target - position, axis=-1)


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
