"""Many scenes at once on a Dask cluster: one task per scene, each model loaded once per worker.

Each scene is colorized by :func:`~geocolor.colorize.pipeline.colorize` inside a task,
so its COG, drift report and STAC Item are exactly what a local run writes, and go
straight to the output folder (a folder the workers share, or a bucket). Its Sentinel-1
processing runs as further tasks on the same cluster (see
:func:`geocolor.io.cluster.dask_client`). Workers keep the models they loaded
(:class:`ModelCache`, a worker plugin): a scene borrows a copy of the loaded model
rather than loading it again, since ``colorize`` puts scene statistics into it. A
registry alias is resolved once, before the first task, so every scene of a batch is
colorized by the same version even if the alias moves meanwhile.

A scene that fails is reported and the others go on; a scene whose COG and Item are
already in the folder, made by the same model, is skipped, so a rerun finishes what
an interrupted or partly failed one left.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import posixpath
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import fsspec
from distributed import Client, Future, get_worker, wait
from distributed.diagnostics.plugin import WorkerPlugin
from mlflow.exceptions import MlflowException
from shapely.geometry.base import BaseGeometry

from geocolor.colorize.pipeline import ColorizeConfig, ColorizeResult, colorize
from geocolor.colorize.stac_item import item_path
from geocolor.errors import GeocolorError, UsageError, one_line
from geocolor.geo.aoi import load_aoi
from geocolor.io.cluster import dask_client
from geocolor.io.filesystems import is_remote
from geocolor.io.outputs import check_output
from geocolor.io.stac import PREFIX
from geocolor.models.device import resolve_device
from geocolor.models.logged import LoadedModel, load_model
from geocolor.models.model_registry import version_info

log = logging.getLogger("geocolor.colorize.batch")

#: The name the model cache is registered under on every worker.
PLUGIN = "geocolor-models"
#: Suffixes dropped from a scene's name to name its COG (``X.SAFE.zip`` -> ``X.tif``).
SCENE_SUFFIXES = (".zip", ".safe", ".tiff", ".tif", ".json")
#: Least seconds between two progress reports of one scene.
REPORT_EVERY = 0.5

Status = Literal["colorized", "skipped", "failed"]


@dataclass(frozen=True)
class SceneOutcome:
    """What became of one scene."""

    scene: str
    output: str
    status: Status
    #: What was written (``colorized`` only).
    result: ColorizeResult | None = None
    #: Why the scene failed, on one line (``failed`` only).
    error: str | None = None

    def line(self) -> str:
        """One human line for the report."""
        if self.status == "failed":
            return f"{self.scene}: failed: {self.error}"
        if self.status == "skipped":
            return f"{self.scene}: skipped, {self.output} is finished"
        drift = self.result.drift if self.result else None
        verdict = drift.summary() if drift else "unknown (the model has no reference)"
        return f"{self.scene}: {self.output} (drift: {verdict})"


@dataclass(frozen=True)
class SceneProgress:
    """Tiles of one scene colorized so far."""

    scene: str
    done: int
    total: int


class ModelCache(WorkerPlugin):
    """The models a worker has loaded, by URI and device, lent out one copy per task.

    The first task that needs a model loads it; later ones borrow an idle copy, or a
    copy of the loaded one when all are in use (scenes running side by side each put
    their own statistics into their model). ``loads`` counts the models loaded.
    """

    idempotent = True  # registered by every run: a worker keeps what it loaded

    def setup(self, worker: Any) -> None:
        """Start empty on each worker."""
        self.loads = 0
        self._loaded: dict[tuple[str, str], LoadedModel] = {}
        self._idle: dict[tuple[str, str], list[LoadedModel]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def borrow(self, uri: str, device: str) -> Iterator[LoadedModel]:
        """A copy of the model ``uri`` on ``device`` for this task alone."""
        key = (uri, device)
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = load_model(uri, device)
                self.loads += 1
            idle = self._idle.setdefault(key, [])
            model = idle.pop() if idle else copy.deepcopy(self._loaded[key])
        try:
            yield model
        finally:
            with self._lock:
                self._idle[key].append(model)


def colorize_scenes(
    scenes: Sequence[str],
    model: str,
    folder: str,
    *,
    aoi: str | BaseGeometry | None = None,
    config: ColorizeConfig | None = None,
    scheduler: str | None = None,
    redo: bool = False,
    progress: Callable[[SceneProgress], None] | None = None,
    finished: Callable[[SceneOutcome], None] | None = None,
) -> list[SceneOutcome]:
    """Colorize ``scenes`` with ``model`` into ``folder``, one Dask task per scene.

    Parameters
    ----------
    scenes
        Scenes as :func:`~geocolor.colorize.pipeline.colorize` takes them, readable
        by every worker (shared folder or URL). Each becomes ``folder/NAME.tif`` (the
        scene's name without ``.SAFE``, ``.zip``, ``.tif``...), with its drift report
        and STAC Item beside it.
    model
        ``models:/...``, ``runs:/...`` or a model folder every worker can read; each
        worker loads it once.
    folder
        Output folder: a local folder the workers share (created if missing) or a URL.
    aoi, config
        As for ``colorize``; ``config.device`` is resolved on each worker, so
        ``auto`` uses a worker's GPU where it has one.
    scheduler
        Address of the Dask scheduler; Dask's configured one, else a local cluster,
        when None.
    redo
        Colorize scenes whose outputs are already finished, instead of skipping them.
    progress
        Called in this thread as a scene's tiles are colorized.
    finished
        Called in this thread with each scene's outcome as it is known.

    Returns
    -------
    list[SceneOutcome]
        One per scene, in the order given; a failed scene does not stop the others.

    Raises
    ------
    UsageError
        Before any work, when two scenes would write the same output or an output
        would overwrite an input.
    GeocolorError
        Before any work, when the registry does not know ``model``.
    """
    config = config or ColorizeConfig()
    region = load_aoi(aoi) if isinstance(aoi, str) else aoi
    outputs = output_paths(scenes, folder)
    check_output(folder, [*scenes, model, aoi if isinstance(aoi, str) else None], "folder")
    version = pinned(model)
    if not is_remote(folder):
        Path(folder).mkdir(parents=True, exist_ok=True)
    for output in outputs:
        check_output(output, [*scenes, model], "file")
    outcomes: dict[int, SceneOutcome] = {}
    todo = []
    for index, (scene, output) in enumerate(zip(scenes, outputs, strict=True)):
        if not redo and is_finished(output, model):
            outcomes[index] = SceneOutcome(scene, output, "skipped")
            if finished:
                finished(outcomes[index])
        else:
            todo.append(index)
    if todo:
        with dask_client(scheduler) as client:
            client.register_plugin(ModelCache(), name=PLUGIN)
            run = _Run(client, scenes, outputs, (model, version), region, config)
            run.progress, run.finished = progress, finished
            outcomes.update(run.colorize(todo))
    return [outcomes[index] for index in range(len(scenes))]


def pinned(model: str) -> str:
    """``models:/NAME/VERSION`` for the version a registry alias names now, else ``model``.

    Raises
    ------
    GeocolorError
        One line naming ``model`` when the registry cannot say, before any scene.
    """
    try:
        version = version_info(model)
    except (MlflowException, OSError) as exc:
        raise GeocolorError(f"{model}: cannot load the model ({one_line(exc)})") from None
    return f"models:/{version.name}/{version.version}" if version else model


def output_paths(scenes: Sequence[str], folder: str) -> list[str]:
    """``folder/NAME.tif`` for each scene; two scenes of one name are refused."""
    join = posixpath.join if is_remote(folder) else lambda *parts: str(Path(*parts))
    outputs = [join(folder, scene_name(scene) + ".tif") for scene in scenes]
    seen: dict[str, str] = {}
    for scene, output in zip(scenes, outputs, strict=True):
        if output in seen:
            raise UsageError(f"{seen[output]} and {scene} would both be written to {output}")
        seen[output] = scene
    return outputs


def scene_name(scene: str) -> str:
    """The scene's file or folder name without its product and file suffixes."""
    name = posixpath.basename(scene.rstrip("/"))
    stripped = True
    while stripped:
        stripped = False
        for suffix in SCENE_SUFFIXES:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name, stripped = name[: -len(suffix)], True
    return name


def is_finished(output: str, model: str) -> bool:
    """Whether ``output`` and its STAC Item (written last) are there, made by ``model``."""
    item = item_path(output)
    filesystem, path = fsspec.core.url_to_fs(item)
    try:
        with filesystem.open(path, "rb") as stream:
            properties = json.load(stream).get("properties", {})
        cog_there = filesystem.exists(fsspec.core.url_to_fs(output)[1])
    except (OSError, ValueError):
        return False
    if cog_there and properties.get(PREFIX + "model_uri") != model:
        log.info("%s was made by another model: colorized again", output)
        return False
    return bool(cog_there)


class _Run:
    """One batch on a cluster: tasks in flight, their progress and outcomes."""

    def __init__(
        self,
        client: Client,
        scenes: Sequence[str],
        outputs: Sequence[str],
        model: tuple[str, str],
        region: BaseGeometry | None,
        config: ColorizeConfig,
    ) -> None:
        self.client = client
        self.scenes, self.outputs = scenes, outputs
        self.model, self.region, self.config = model, region, config
        self.progress: Callable[[SceneProgress], None] | None = None
        self.finished: Callable[[SceneOutcome], None] | None = None
        self.topic = f"geocolor-colorize-{uuid.uuid4().hex}"
        self.reports: queue.SimpleQueue[tuple[int, int, int]] = queue.SimpleQueue()

    def colorize(self, todo: list[int]) -> dict[int, SceneOutcome]:
        """Run the scenes ``todo``, at most one per worker thread at a time.

        A scene's task leaves its thread to its own processing tasks while it waits
        for them, so the cluster would otherwise start every scene at once.
        """
        threads = max(sum(self.client.nthreads().values()), 1)
        waiting = list(reversed(todo))
        running: dict[Future[SceneOutcome], int] = {}
        outcomes: dict[int, SceneOutcome] = {}
        self.client.subscribe_topic(self.topic, lambda event: self.reports.put(event[1]))
        try:
            while waiting or running:
                while waiting and len(running) < threads:
                    index = waiting.pop()
                    running[self._submit(index)] = index
                done = _wait_some(list(running))
                self._pass_on_progress(outcomes)
                for future in done:
                    index = running.pop(future)
                    outcomes[index] = self._outcome(future, index)
                    if self.finished:
                        self.finished(outcomes[index])
        finally:
            # on an interrupt: scenes not begun are dropped (one begun still finishes)
            self.client.cancel(list(running))
            self.client.unsubscribe_topic(self.topic)
        return outcomes

    def _submit(self, index: int) -> Future[SceneOutcome]:
        # distributed's Client.submit is unannotated
        future: Future[SceneOutcome] = self.client.submit(
            colorize_on_worker,
            index,
            self.scenes[index],
            self.model,
            self.outputs[index],
            self.region,
            self.config,
            self.topic,
            key=f"colorize-{self.topic}-{index}",
            pure=False,
        )
        return future

    def _outcome(self, future: Future[SceneOutcome], index: int) -> SceneOutcome:
        scene, output = self.scenes[index], self.outputs[index]
        try:
            outcome: SceneOutcome = future.result()
        except Exception as lost:  # a worker died, the task could not be sent...
            return SceneOutcome(scene, output, "failed", error=one_line(lost))
        finally:
            future.release()
        return outcome

    def _pass_on_progress(self, outcomes: dict[int, SceneOutcome]) -> None:
        """Reports that came in, bar those of scenes already over (a late message)."""
        while not self.reports.empty():
            index, done, total = self.reports.get()
            if self.progress and index not in outcomes:
                self.progress(SceneProgress(self.scenes[index], done, total))


def _wait_some(futures: list[Future[SceneOutcome]]) -> list[Future[SceneOutcome]]:
    """The futures that finish within a short while (none when none does)."""
    try:
        done, _ = wait(futures, timeout=REPORT_EVERY, return_when="FIRST_COMPLETED")
    except TimeoutError:
        return []
    return list(done)


def colorize_on_worker(
    index: int,
    scene: str,
    model: tuple[str, str],
    output: str,
    region: BaseGeometry | None,
    config: ColorizeConfig,
    topic: str,
) -> SceneOutcome:
    """The task of one scene: ``colorize`` with the worker's copy of the model.

    ``model`` is the URI as given (what the outputs name) and the one loaded (the
    version an alias named when the batch began).

    Errors come back as a failed outcome with their one-line message, not as the
    exception: some carry data that would not survive the trip to the client.
    """
    worker = get_worker()
    cache = worker.plugins[PLUGIN]
    assert isinstance(cache, ModelCache)
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= REPORT_EVERY:
            last[0] = now
            worker.log_event(topic, (index, done, total))

    try:
        named, loaded_from = model
        with cache.borrow(loaded_from, str(resolve_device(config.device))) as loaded:
            as_named = dataclasses.replace(loaded, uri=named)
            result = colorize(scene, as_named, output, aoi=region, config=config, progress=report)
    except GeocolorError as refused:
        return SceneOutcome(scene, output, "failed", error=one_line(refused))
    except Exception as failed:  # one scene's bug must not stop the batch
        log.debug("%s failed", scene, exc_info=True)  # the traceback with -vv
        return SceneOutcome(
            scene, output, "failed", error=f"{type(failed).__name__}: {one_line(failed)}"
        )
    return SceneOutcome(scene, output, "colorized", result=result)
