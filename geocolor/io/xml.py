"""Reading required values out of product XML, with one-line errors that name the file.

Sentinel-1 annotation and Sentinel-2 metadata files are the authority for how a
product's pixels are scaled and placed, so a value that is absent or unreadable must
stop the run with a :class:`~geocolor.errors.GeocolorError` naming the file, never
with a traceback or a silent default. Elements are found by ElementTree paths: ``{*}``
matches a tag in any namespace or none (ESA files mix prefixed and bare tags), and
``.//`` searches all descendants.

Every helper takes ``source``, the user-facing name of the file, and reports:

- malformed XML: ``"<source>: malformed XML (<parser message>)."``
- a missing element, or one without text: ``"<source>: missing or empty element '<path>'."``
- text that is not a number: ``"<source>: element '<tag>' holds a non-number (<why>)."``
- text that is not a whole number: ``"<source>: element '<tag>' holds a non-integer (<text>)."``
- text that is not an ISO 8601 time: ``"<source>: element '<tag>' holds no valid time (<text>)."``
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import numpy as np

from geocolor.errors import GeocolorError, one_line

__all__ = [
    "local_name",
    "parse_xml",
    "required_integer",
    "required_number",
    "required_numbers",
    "required_text",
    "required_time",
]


def parse_xml(content: bytes, source: str) -> ET.Element:
    """The root element of ``content``, or a one-line error if it is not well-formed XML."""
    try:
        return ET.fromstring(content)
    except ET.ParseError as error:
        raise GeocolorError(f"{source}: malformed XML ({one_line(error)}).") from error


def local_name(tag: str) -> str:
    """A tag without its namespace: ``{http://...}Granule`` -> ``Granule``."""
    return tag.rpartition("}")[2]


def required_text(parent: ET.Element, path: str, source: str) -> str:
    """Stripped text of the first element at ``path`` below ``parent`` (``"."`` is itself)."""
    return _required_text(parent, path, source)[1]


def required_number(parent: ET.Element, path: str, source: str) -> float:
    """The number held by the first element at ``path`` below ``parent``."""
    element, text = _required_text(parent, path, source)
    try:
        return float(text)
    except ValueError as error:
        raise _not_a_number(element, error, source) from error


def required_integer(parent: ET.Element, path: str, source: str) -> int:
    """The whole number held by the first element at ``path`` (``12`` or ``12.0``, not ``12.5``)."""
    element, text = _required_text(parent, path, source)
    try:
        value = float(text)
        if value.is_integer():
            return int(value)
    except ValueError:
        pass
    raise GeocolorError(
        f"{source}: element {local_name(element.tag)!r} holds a non-integer ({text[:40]!r})."
    )


def required_time(parent: ET.Element, path: str, source: str) -> datetime:
    """The ISO 8601 time held by the first element at ``path``, in UTC.

    ESA writes times without a zone, meaning UTC; a time with its own zone is converted.
    """
    element, text = _required_text(parent, path, source)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise GeocolorError(
            f"{source}: element {local_name(element.tag)!r} holds no valid time ({text[:40]!r})."
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def required_numbers(
    parent: ET.Element, path: str, source: str, dtype: type[np.generic] = np.float64
) -> np.ndarray:
    """Whitespace-separated numbers of the first element at ``path``, as a 1-D array.

    The text is read as float64 and then cast to ``dtype``, so an integer array also
    accepts numbers spelled ``12.0``.
    """
    element, text = _required_text(parent, path, source)
    try:
        return np.array(text.split(), dtype=np.float64).astype(dtype, casting="unsafe")
    except ValueError as error:
        raise _not_a_number(element, error, source) from error


def _required_text(parent: ET.Element, path: str, source: str) -> tuple[ET.Element, str]:
    element = parent.find(path)
    if element is None or element.text is None or not element.text.strip():
        raise GeocolorError(f"{source}: missing or empty element {path!r}.")
    return element, element.text.strip()


def _not_a_number(element: ET.Element, error: ValueError, source: str) -> GeocolorError:
    return GeocolorError(
        f"{source}: element {local_name(element.tag)!r} holds a non-number ({one_line(error)})."
    )
