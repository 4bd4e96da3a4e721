from __future__ import annotations

import itertools

import numpy as np
import pytest

from geocolor.colorize.blending import (
    Span,
    axis_spans,
    axis_weights,
    default_overlap,
    redundancy,
    weight_sum,
)


@pytest.mark.parametrize("length", [1, 3, 64, 100, 511, 512, 513, 1000, 2048, 5001])
@pytest.mark.parametrize(("tile", "overlap", "multiple"), [(512, 88, 4), (64, 16, 8), (32, 0, 1)])
def test_spans_cover_the_axis_with_sizes_the_model_takes(
    length: int, tile: int, overlap: int, multiple: int
) -> None:
    spans = axis_spans(length, tile, overlap, multiple)
    covered = np.zeros(length, dtype=int)
    for span in spans:
        assert span.size % multiple == 0 and 0 < span.size <= max(tile, length + multiple)
        assert span.start >= 0
        covered[span.start : min(span.stop, length)] += 1
    assert covered.min() >= 1
    assert spans[-1].stop >= length
    for previous, current in itertools.pairwise(spans):
        assert previous.stop - current.start >= overlap  # neighbours share the overlap


@pytest.mark.parametrize("length", [100, 513, 1000, 2048, 3001])
def test_weights_are_a_partition_of_unity(length: int) -> None:
    spans = axis_spans(length, 256, 48, 4)
    weights = axis_weights(spans, 48)
    np.testing.assert_allclose(weight_sum(spans, weights, length), 1.0, atol=1e-12)
    for span, weight in zip(spans, weights, strict=True):
        assert weight.shape == (span.size,) and weight.min() >= 0 and weight.max() <= 1


def test_weights_are_flat_inside_and_at_scene_edges_and_ramp_in_overlaps() -> None:
    spans = axis_spans(1000, 256, 64, 4)
    weights = axis_weights(spans, 64)
    assert weights[0][0] == 1.0 and weights[-1][-1] == 1.0  # scene edges keep full weight
    first = weights[0]
    assert np.all(first[:192] == 1.0) and np.all(np.diff(first[192:]) < 0)  # cos² fall
    second = weights[1]
    assert np.all(np.diff(second[:64]) > 0) and second[0] < 0.01  # sin² rise


def test_redundancy_stays_low_with_a_short_last_tile() -> None:
    rows = cols = axis_spans(2048, 512, 88, 4)
    assert redundancy(rows, cols, 2048, 2048) < 1.5
    same_size = [Span(s.stop - 512, 512) if s.size < 512 else s for s in rows]
    assert redundancy(same_size, same_size, 2048, 2048) > redundancy(rows, cols, 2048, 2048)


def test_default_overlap_follows_the_receptive_field_up_to_a_quarter_tile() -> None:
    assert default_overlap(87, 512, 4) == 88
    assert default_overlap(300, 512, 4) == 128
    assert default_overlap(0, 512, 4) == 4


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple"):
        axis_spans(100, 30, 4, 4)
    with pytest.raises(ValueError, match="overlap"):
        axis_spans(100, 32, 32, 4)
    with pytest.raises(ValueError, match="pixel"):
        axis_spans(0, 32, 8, 4)
