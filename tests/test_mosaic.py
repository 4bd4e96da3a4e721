from __future__ import annotations

import itertools

import numpy as np
import pytest

from geocolor.colorize.blending import axis_spans
from geocolor.colorize.mosaic import blend, plan_panels


def scene(height: int, width: int, bands: int = 3, seed: int = 0) -> np.ndarray:
    image = np.random.default_rng(seed).normal(size=(bands, height, width)).astype(np.float32)
    image[:, : height // 5, : width // 4] = np.nan  # a hole without data
    return image


def reader(image: np.ndarray):  # type: ignore[no-untyped-def]
    def read(row0: int, col0: int, height: int, width: int) -> np.ndarray:
        out = np.full((image.shape[0], height, width), np.nan, dtype=np.float32)
        part = image[:, row0 : row0 + height, col0 : col0 + width]
        out[:, : part.shape[1], : part.shape[2]] = part
        return out

    return read


def mosaic(image: np.ndarray, predict, tile: int, overlap: int, multiple: int = 4, **kw):  # type: ignore[no-untyped-def]
    bands, height, width = image.shape
    out = np.full((bands, height, width), -99.0, dtype=np.float32)
    written = np.zeros((height, width), dtype=int)

    def sink(row0: int, col0: int, values: np.ndarray, valid: np.ndarray) -> None:
        h, w = valid.shape
        out[:, row0 : row0 + h, col0 : col0 + w] = values
        written[row0 : row0 + h, col0 : col0 + w] += 1

    rows = axis_spans(height, tile, overlap, multiple)
    cols = axis_spans(width, tile, overlap, multiple)
    blend(reader(image), predict, rows, cols, (height, width), overlap, bands, sink, **kw)
    assert np.all(written == 1)  # every pixel handed over exactly once
    return out


@pytest.mark.parametrize(
    ("height", "width", "tile", "overlap", "panel"),
    [(97, 131, 32, 8, 64), (200, 300, 64, 16, 128), (64, 64, 64, 8, 4096), (5, 7, 32, 8, 64)],
)
def test_identity_model_reproduces_its_input_across_tiles_and_edges(
    height: int, width: int, tile: int, overlap: int, panel: int
) -> None:
    image = scene(height, width)
    out = mosaic(image, lambda batch: batch, tile, overlap, panel_width=panel, batch_size=3)
    np.testing.assert_allclose(out, image, rtol=0, atol=1e-6)  # NaN where no data


def test_constant_model_gives_a_constant_image_edges_included() -> None:
    image = scene(150, 170)
    out = mosaic(image, lambda batch: np.full_like(batch, 0.25), 64, 16, panel_width=128)
    valid = np.isfinite(image).all(0)
    np.testing.assert_allclose(out[:, valid], 0.25, atol=1e-6)


def test_chunked_equals_unchunked_for_a_pointwise_model() -> None:
    image = scene(180, 260)

    def model(batch: np.ndarray) -> np.ndarray:
        return np.tanh(batch * 1.5) + batch**2

    whole = model(image[None])[0]
    for tile, overlap, panel in [(32, 8, 64), (64, 24, 256), (256, 64, 4096)]:
        np.testing.assert_allclose(
            mosaic(image, model, tile, overlap, panel_width=panel), whole, atol=1e-5
        )


def test_tiles_disagreeing_blend_smoothly_across_the_overlap() -> None:
    height, width, tile, overlap = 64, 200, 64, 32
    image = np.zeros((1, height, width), dtype=np.float32)

    rng = np.random.default_rng(0)

    def per_tile_offset(batch: np.ndarray) -> np.ndarray:
        # each tile off by its own constant, as per-tile normalisation makes it
        return batch + rng.uniform(size=(len(batch), 1, 1, 1)).astype(np.float32)

    out = mosaic(image, per_tile_offset, tile, overlap, batch_size=1)[0]
    steps = np.abs(np.diff(out, axis=1))
    assert steps.max() < np.pi / 2 / overlap + 1e-6  # no jump: at most the ramp's slope


def test_panels_split_columns_at_tile_starts() -> None:
    cols = axis_spans(1000, 128, 32, 4)
    panels = plan_panels(cols, 1000, 300)
    assert panels[0].left == 0 and panels[-1].final == 1000
    for left, right in itertools.pairwise(panels):
        assert left.final == right.left == cols[right.columns[0]].start
        assert left.reach > left.final  # the overlap handed to the next panel


def test_progress_counts_every_tile() -> None:
    image = scene(100, 100)
    seen: list[tuple[int, int]] = []
    mosaic(image, lambda b: b, 32, 8, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] == len(axis_spans(100, 32, 8, 4)) ** 2
