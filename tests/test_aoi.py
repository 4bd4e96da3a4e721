from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyproj import Transformer
from shapely.geometry import Polygon, box, mapping

from geocolor.errors import UsageError
from geocolor.geo.aoi import load_aoi


def test_bbox() -> None:
    assert load_aoi("9.1,45.0,9.4,45.2").equals(box(9.1, 45.0, 9.4, 45.2))
    assert load_aoi(" -8.5, 53.0 , -8.0,53.25").bounds == (-8.5, 53.0, -8.0, 53.25)


@pytest.mark.parametrize("text", ["9.4,45.0,9.1,45.2", "500000,5000000,510000,5010000"])
def test_bad_bbox(text: str) -> None:
    with pytest.raises(UsageError, match="AOI bbox"):
        load_aoi(text)


def utm_square() -> Polygon:
    to_utm = Transformer.from_crs(4326, 32632, always_xy=True)
    x0, y0 = to_utm.transform(9.2, 45.1)
    return box(x0, y0, x0 + 5000, y0 + 5000)


def test_geojson_in_utm_is_reprojected(tmp_path: Path) -> None:
    square = utm_square()
    collection = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32632"}},
        "features": [{"type": "Feature", "properties": {}, "geometry": mapping(square)}],
    }
    path = tmp_path / "aoi.geojson"
    path.write_text(json.dumps(collection))
    aoi = load_aoi(str(path))
    minx, miny, maxx, maxy = aoi.bounds
    # the UTM square is slightly rotated in lon/lat (grid convergence)
    assert minx == pytest.approx(9.2, abs=1e-3) and miny == pytest.approx(45.1, abs=1e-3)
    assert 9.25 < maxx < 9.27 and 45.14 < maxy < 45.15
    assert aoi.area == pytest.approx(load_aoi(str(path)).area)  # deterministic


def test_plain_geojson_geometry_and_feature(tmp_path: Path) -> None:
    geometry = mapping(box(1, 2, 3, 4))
    for i, data in enumerate([geometry, {"type": "Feature", "geometry": geometry}]):
        path = tmp_path / f"aoi{i}.json"
        path.write_text(json.dumps(data))
        assert load_aoi(str(path)).equals(box(1, 2, 3, 4))


def test_wkt_with_and_without_srid(tmp_path: Path) -> None:
    square = utm_square()
    (tmp_path / "a.wkt").write_text(f"SRID=32632;{square.wkt}")
    (tmp_path / "b.wkt").write_text("POLYGON ((1 2, 3 2, 3 4, 1 4, 1 2))")
    assert load_aoi(str(tmp_path / "a.wkt")).bounds[0] == pytest.approx(9.2, abs=1e-3)
    assert load_aoi(str(tmp_path / "b.wkt")).equals(box(1, 2, 3, 4))


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "bad.wkt").write_text("POLYGN ((")
    (tmp_path / "empty.json").write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(UsageError, match="not valid GeoJSON"):
        load_aoi(str(tmp_path / "bad.json"))
    with pytest.raises(UsageError, match="neither GeoJSON nor WKT"):
        load_aoi(str(tmp_path / "bad.wkt"))
    with pytest.raises(UsageError, match="no features"):
        load_aoi(str(tmp_path / "empty.json"))
    with pytest.raises(UsageError, match="neither a bbox"):
        load_aoi(str(tmp_path / "missing.geojson"))
