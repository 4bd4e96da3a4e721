"""Tile predictions blended into a mosaic, streamed in strips of bounded memory.

The scene is cut into column panels of a few thousand pixels; each panel is walked top
to bottom one row of tiles at a time. A row's weighted predictions accumulate in a
buffer as tall as a tile and as wide as the panel; rows no later tile reaches are handed
to the sink at once, and the panel's right overlap is kept (as wide as the overlap, as
tall as the scene) for the next panel. Memory thus depends on the tile and panel sizes,
not on the scene's: a 20 000 px wide scene needs the same buffers as a 5 000 px one, plus
the overlap column.

Input tiles are read one batch ahead in a background thread, so reading overlaps the
forward passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from geocolor.colorize.blending import Span, axis_weights, weight_sum

#: (bands, height, width) float32 SAR -> (batch, channels, height, width) predictions,
#: NaN where the input had no data.
Predict = Callable[[np.ndarray], np.ndarray]
#: (row0, col0, values (channels, h, w) float32, valid (h, w) bool): finished pixels.
Sink = Callable[[int, int, np.ndarray, np.ndarray], None]
#: (row0, col0, height, width) -> (bands, height, width) float32 input window.
Read = Callable[[int, int, int, int], np.ndarray]


@dataclass(frozen=True)
class Panel:
    """Consecutive tile columns blended together.

    Attributes
    ----------
    columns
        Indexes of the panel's column spans.
    left, reach
        First and one-past-last pixel any of its tiles covers.
    final
        One past the last column the panel finishes (the next panel's first tile start,
        or the scene's width).
    """

    columns: range
    left: int
    reach: int
    final: int


def plan_panels(cols: Sequence[Span], width: int, panel_width: int) -> list[Panel]:
    """Group column spans into panels about ``panel_width`` pixels wide (at least one tile)."""
    groups: list[list[int]] = [[]]
    for index, span in enumerate(cols):
        current = groups[-1]
        if current and span.stop - cols[current[0]].start > panel_width:
            groups.append([])
        groups[-1].append(index)
    panels = []
    for number, group in enumerate(groups):
        final = cols[groups[number + 1][0]].start if number + 1 < len(groups) else width
        reach = min(max(cols[i].stop for i in group), width)
        panels.append(Panel(range(group[0], group[-1] + 1), cols[group[0]].start, reach, final))
    return panels


@dataclass(frozen=True)
class Batch:
    """Tiles of one row of one panel with the same shape, predicted together."""

    panel: int
    row: int
    columns: tuple[int, ...]
    last_of_row: bool


def plan_batches(
    rows: Sequence[Span], cols: Sequence[Span], panels: Sequence[Panel], size: int
) -> list[Batch]:
    """Processing order: panel by panel, row by row, same-shape tiles batched."""
    batches = []
    for number, panel in enumerate(panels):
        for row in range(len(rows)):
            by_width: dict[int, list[int]] = {}
            for column in panel.columns:
                by_width.setdefault(cols[column].size, []).append(column)
            groups = [
                tuple(columns[i : i + size])
                for columns in by_width.values()
                for i in range(0, len(columns), size)
            ]
            for index, group in enumerate(groups):
                batches.append(Batch(number, row, group, index == len(groups) - 1))
    return batches


class _PanelBuffer:
    """Weighted sums of one panel's current row of tiles, plus what the panel hands on."""

    def __init__(self, channels: int, tile: int, panel: Panel, height: int, carry: int) -> None:
        self.panel = panel
        self.values = np.zeros((channels, tile, panel.reach - panel.left), dtype=np.float32)
        self.valid = np.zeros((tile, panel.reach - panel.left), dtype=bool)
        # the right overlap, kept for the next panel, for every row of the scene
        self.carry_values = np.zeros((channels, height, carry), dtype=np.float32)
        self.carry_valid = np.zeros((height, carry), dtype=bool)

    def add(self, row0: int, col0: int, prediction: np.ndarray, weight: np.ndarray) -> None:
        height, width = weight.shape
        x = col0 - self.panel.left
        valid = np.isfinite(prediction).all(axis=0)
        self.values[:, row0 : row0 + height, x : x + width] += np.where(
            valid, prediction * weight, 0.0
        )
        self.valid[row0 : row0 + height, x : x + width] |= valid

    def shift(self, rows: int) -> None:
        """Drop the first ``rows`` buffered rows (emitted) and move the rest up."""
        kept = self.values.shape[1] - rows
        self.values[:, :kept] = self.values[:, rows:]
        self.values[:, kept:] = 0.0
        self.valid[:kept] = self.valid[rows:]
        self.valid[kept:] = False


def blend(
    read: Read,
    predict: Predict,
    rows: Sequence[Span],
    cols: Sequence[Span],
    shape: tuple[int, int],
    overlap: int,
    channels: int,
    sink: Sink,
    *,
    batch_size: int = 4,
    panel_width: int = 4096,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Predict every tile of the plan and hand the blended mosaic to ``sink`` strip by strip.

    Parameters
    ----------
    read
        Input window reader; windows may extend past the scene (padding).
    predict
        The model on a batch of input windows.
    rows, cols
        Tile spans along each axis (:func:`~geocolor.colorize.blending.axis_spans`).
    shape
        Scene (height, width).
    overlap
        The overlap the spans were planned with: the width of the hand-over ramps.
    channels
        Channels ``predict`` returns.
    sink
        Receives finished pixels; each scene pixel exactly once.
    batch_size
        Tiles per forward pass.
    panel_width
        Approximate width of the column panels (bounds the buffers).
    progress
        Called with (tiles done, tiles in all) after each batch.
    """
    height, width = shape
    row_weights, col_weights = axis_weights(list(rows), overlap), axis_weights(list(cols), overlap)
    row_sum = weight_sum(list(rows), row_weights, height).astype(np.float32)
    col_sum = weight_sum(list(cols), col_weights, width).astype(np.float32)
    panels = plan_panels(cols, width, panel_width)
    batches = plan_batches(rows, cols, panels, batch_size)
    tile_height = max(span.size for span in rows)
    total, done = len(rows) * len(cols), 0
    carried: tuple[np.ndarray, np.ndarray] | None = None
    buffer: _PanelBuffer | None = None

    def read_batch(batch: Batch) -> np.ndarray:
        row = rows[batch.row]
        windows = [read(row.start, cols[c].start, row.size, cols[c].size) for c in batch.columns]
        return np.stack(windows)

    for batch, inputs in _prefetched(batches, read_batch):
        panel = panels[batch.panel]
        if buffer is None or buffer.panel is not panel:
            if buffer is not None:
                carried = (buffer.carry_values, buffer.carry_valid)
            buffer = _PanelBuffer(channels, tile_height, panel, height, panel.reach - panel.final)
        row = rows[batch.row]
        predictions = predict(inputs)
        for column, prediction in zip(batch.columns, predictions, strict=True):
            span = cols[column]
            rows_in, cols_in = min(row.stop, height) - row.start, min(span.stop, width) - span.start
            weight = np.outer(row_weights[batch.row][:rows_in], col_weights[column][:cols_in])
            buffer.add(0, span.start, prediction[:, :rows_in, :cols_in], weight.astype(np.float32))
        done += len(batch.columns)
        if batch.last_of_row:
            _emit_rows(buffer, rows, batch.row, height, carried, row_sum, col_sum, sink)
        if progress is not None:
            progress(done, total)


def _emit_rows(
    buffer: _PanelBuffer,
    rows: Sequence[Span],
    index: int,
    height: int,
    carried: tuple[np.ndarray, np.ndarray] | None,
    row_sum: np.ndarray,
    col_sum: np.ndarray,
    sink: Sink,
) -> None:
    """Hand over the rows of the panel no later tile row reaches, and keep the rest."""
    panel = buffer.panel
    top = rows[index].start
    bottom = rows[index + 1].start if index + 1 < len(rows) else height
    count = bottom - top
    finished = panel.final - panel.left
    values = buffer.values[:, :count, :finished].copy()
    valid = buffer.valid[:count, :finished].copy()
    if carried is not None:
        carry_values, carry_valid = carried
        width = carry_values.shape[2]
        values[:, :, :width] += carry_values[:, top:bottom]
        valid[:, :width] |= carry_valid[top:bottom]
    buffer.carry_values[:, top:bottom] = buffer.values[:, :count, finished:]
    buffer.carry_valid[top:bottom] = buffer.valid[:count, finished:]
    values /= row_sum[top:bottom, None] * col_sum[None, panel.left : panel.final]
    values[:, ~valid] = np.nan
    sink(top, panel.left, values, valid)
    buffer.shift(count)


def _prefetched(
    batches: Sequence[Batch], read_batch: Callable[[Batch], np.ndarray]
) -> Iterator[tuple[Batch, np.ndarray]]:
    """Each batch with its inputs, the next batch being read while this one is used."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="geocolor-read") as pool:
        pending: Future[np.ndarray] | None = None
        for index, batch in enumerate(batches):
            current = pending.result() if pending is not None else read_batch(batch)
            pending = (
                pool.submit(read_batch, batches[index + 1]) if index + 1 < len(batches) else None
            )
            yield batch, current
