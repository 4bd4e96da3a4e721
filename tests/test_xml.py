"""The shared XML helpers: namespace-agnostic lookups and one-line errors naming the file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from geocolor.errors import GeocolorError
from geocolor.io.xml import (
    local_name,
    parse_xml,
    required_number,
    required_numbers,
    required_text,
)

# ESA files mix prefixed and bare tags in one document
DOCUMENT = b"""<?xml version="1.0"?>
<p:product xmlns:p="https://example.com/product">
  <p:header><p:mission> S1A </p:mission></p:header>
  <vector>
    <line>12.0</line>
    <pixel count="3">0 40 80</pixel>
    <value>1.5 -2e3 nan</value>
    <blank>  </blank>
    <empty/>
    <word>twelve</word>
    <row>1 two 3</row>
  </vector>
  <p:offset band_id="0">-1000</p:offset>
</p:product>
"""


@pytest.fixture
def root() -> ET.Element:
    return parse_xml(DOCUMENT, "doc.xml")


def test_any_namespace_wildcard_finds_prefixed_and_bare_tags(root: ET.Element) -> None:
    assert required_text(root, "{*}header/{*}mission", "doc.xml") == "S1A"
    assert required_text(root, "{*}vector/{*}line", "doc.xml") == "12.0"
    assert required_text(root, ".//{*}pixel", "doc.xml") == "0 40 80"
    assert local_name(root.tag) == "product"
    assert local_name("bare") == "bare"


def test_numbers_are_read_and_cast(root: ET.Element) -> None:
    assert required_number(root, ".//{*}offset", "doc.xml") == -1000.0
    offset = root.find(".//{*}offset")
    assert required_number(offset, ".", "doc.xml") == -1000.0
    pixels = required_numbers(root, ".//{*}pixel", "doc.xml", np.int64)
    assert pixels.dtype == np.int64
    np.testing.assert_array_equal(pixels, [0, 40, 80])
    values = required_numbers(root, ".//{*}value", "doc.xml")
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, [1.5, -2000.0, np.nan])
    assert required_numbers(root, ".//{*}line", "doc.xml", np.int64).tolist() == [12]


@pytest.mark.parametrize("path", [".//{*}absent", ".//{*}blank", ".//{*}empty", "{*}line"])
def test_missing_or_empty_element_names_file_and_path(root: ET.Element, path: str) -> None:
    for read in (required_text, required_number, required_numbers):
        with pytest.raises(GeocolorError) as caught:
            read(root, path, "doc.xml")
        assert str(caught.value) == f"doc.xml: missing or empty element {path!r}."


@pytest.mark.parametrize(
    ("read", "path", "bad"),
    [
        (required_number, ".//{*}word", "twelve"),
        (required_number, ".//{*}pixel", "0 40 80"),
        (required_numbers, ".//{*}row", "two"),
    ],
)
def test_non_number_is_one_line_naming_file_and_element(
    root: ET.Element, read: Callable[[ET.Element, str, str], Any], path: str, bad: str
) -> None:
    with pytest.raises(GeocolorError) as caught:
        read(root, path, "doc.xml")
    message = str(caught.value)
    tag = path.rpartition("}")[2]
    assert message.startswith(f"doc.xml: element {tag!r} holds a non-number (")
    assert repr(bad) in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "content", [b"<a><b></a>", b"", b"<a>\n<b>\n</a>", b"not xml at all", DOCUMENT[:100]]
)
def test_malformed_xml_is_one_line_naming_the_file(content: bytes) -> None:
    with pytest.raises(GeocolorError) as caught:
        parse_xml(content, "gs://bucket/MTD_TL.xml")
    message = str(caught.value)
    assert message.startswith("gs://bucket/MTD_TL.xml: malformed XML (")
    assert "\n" not in message
