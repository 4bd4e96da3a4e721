"""STAC validation without the network: pystac's JSON-schema validator on vendored schemas.

pystac ships the core STAC 1.1.0 and GeoJSON schemas; the extensions' schemas
(projection, raster, eo, processing, and the PROJJSON schema the projection one
refers to) are vendored in ``tests/data/stac_schemas`` (see its README for where they
come from). Every schema a document names must be among them: a schema that is not
would be fetched, so :func:`validate` fails if the cache grew.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pystac
from pystac.validation import JsonSchemaSTACValidator

SCHEMAS = Path(__file__).parent / "data" / "stac_schemas"


def offline_validator() -> JsonSchemaSTACValidator:
    """pystac's validator with every vendored schema already in its cache."""
    validator = JsonSchemaSTACValidator()
    for path in sorted(SCHEMAS.glob("*.json")):
        schema: dict[str, Any] = json.loads(path.read_text())
        validator.schema_cache[schema["$id"].rstrip("#")] = schema
    return validator


def validate(stac_object: pystac.STACObject | dict[str, Any]) -> list[str]:
    """Validate against core and every extension schema it names; the schemas used.

    A STAC object, or its JSON as read: a document whose relative links pystac cannot
    follow (one in a bucket) is validated as it is.

    Raises
    ------
    pystac.errors.STACValidationError
        When the object breaks a schema.
    """
    validator = offline_validator()
    known = set(validator.schema_cache)
    if isinstance(stac_object, dict):
        used = pystac.validation.validate_dict(stac_object, validator=validator)
    else:
        used = stac_object.validate(validator=validator)
    assert set(validator.schema_cache) == known, "a schema was fetched: vendor it"
    return used
