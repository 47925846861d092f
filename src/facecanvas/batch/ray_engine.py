"""The batch on Ray: one actor per worker (each builds the operation once, from the OpSpec JSON, and
keeps its models and its FaceAnalyzer), one actor call per photo and per video.

Each actor holds one item at a time, so a dead actor (a segfault, ``os._exit``, a lost node) costs exactly
the item it held: that item is marked failed and a fresh actor takes its place.

``address``: None starts a local Ray instance (as ``ray.init()`` does); ``"auto"`` joins the cluster of
this machine (``ray start --head`` / ``ray start --address=HEAD:6379``); ``HOST:6379`` joins that head;
``ray://HOST:10001`` connects through the Ray client. Every node needs facecanvas installed (the same
version) and, with ``--transfer shared``, the input and output folders at the same paths.
"""

from __future__ import annotations

from .worker import Item, Worker, WorkerConfig


def _ray():
    try:
        import ray
    except ImportError:
        from ..errors import InputError

        raise InputError("--engine ray needs Ray: .venv/bin/pip install -r requirements-batch.lock "
                         "(or pip install 'facecanvas[batch]')") from None
    return ray


class WorkerActor:
    def __init__(self, config: dict):
        from .worker import limit_threads

        limit_threads(1)  # one CPU per actor (Ray sets OMP_NUM_THREADS=1 too; OpenCV needs telling)
        self.worker = Worker(WorkerConfig(**config))

    def process(self, item: Item) -> dict:
        return self.worker.process(item)

    def pid(self) -> int:
        return self.worker.pid


def run_ray(items: list[Item], config: WorkerConfig, workers: int | None, on_result, *,
            address: str | None = None) -> None:
    ray = _ray()
    from ray.exceptions import RayActorError

    from .engines import crash_result

    started = not ray.is_initialized()
    if started:
        kwargs = {"address": address, "logging_level": "ERROR", "log_to_driver": False}
        if address is None:
            kwargs.update(include_dashboard=False, num_cpus=workers)
        ray.init(**kwargs)
    try:
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        n = max(1, min(n, len(items)))
        Remote = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(WorkerActor)
        plain = config.plain()
        actors = [Remote.remote(plain) for _ in range(n)]
        pending = list(reversed(items))
        inflight: dict = {}  # ObjectRef -> (actor index, item)
        idle = list(range(n))
        while pending or inflight:
            while idle and pending:
                i, it = idle.pop(), pending.pop()
                inflight[actors[i].process.remote(it)] = (i, it)
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
            for ref in ready:
                i, it = inflight.pop(ref)
                try:
                    on_result(ray.get(ref))
                except RayActorError:
                    on_result(crash_result(it))
                    ray.kill(actors[i], no_restart=True)
                    actors[i] = Remote.remote(plain)  # a fresh worker (it builds the op again, once)
                except ray.exceptions.RayError as e:  # the call itself failed (not the item: that returns)
                    on_result(crash_result(it, f"Ray: {type(e).__name__}: {str(e).splitlines()[0]}"))
                idle.append(i)
        for a in actors:
            ray.kill(a, no_restart=True)
    finally:
        if started:
            ray.shutdown()
