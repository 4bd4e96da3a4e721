"""User-facing errors stay on one line whatever a library's message looks like."""

from __future__ import annotations

from geocolor.errors import one_line


def test_one_line_joins_lines_and_spaces() -> None:
    assert one_line(ValueError("mapping values\n  are not allowed\there")) == (
        "mapping values are not allowed here"
    )


def test_one_line_of_an_empty_message_names_the_exception_type() -> None:
    assert one_line(KeyError()) == "KeyError"
    assert one_line(TimeoutError("  \n ")) == "TimeoutError"
