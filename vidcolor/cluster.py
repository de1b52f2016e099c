"""Ray, when one machine is not enough (the ``[cluster]`` extra: ``pip install "vidcolor[cluster]"``).

vidcolor does not schedule anything itself: work is cut into plain Python calls (one per film,
one per segment of a long film, one per chunk of images to hash) and handed to Ray as tasks.
Ray places them on the nodes, gives each its CPUs (and ``num_gpus`` when the cluster has GPUs),
and re-runs a task whose worker died (``max_retries``). A task's own error (a VidcolorError:
a corrupt input, say) is not retried: it is reported once, by the driver, like a local failure.

Every node needs vidcolor installed (the same version), the inputs and outputs under the same
paths (a shared file system), and the model weights in its cache (``vidcolor weights download``);
FFmpeg comes inside PyAV's wheel. See the README, "Many films, resume, and a Ray cluster".

:func:`session` connects (or starts a local instance) and disconnects; :func:`map_tasks` runs
one function over many argument tuples and yields each result (or its error) as it completes.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Callable, Iterable, Iterator, Sequence

from . import options
from .errors import OptionError, VidcolorError

#: ``--ray`` without an address: Ray's own default (``RAY_ADDRESS``, else a cluster started on this
#: machine with ``ray start --head``, else a new local instance)
DEFAULT_ADDRESS = "default"


def require():
    """The ``ray`` module, or an OptionError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise OptionError('--ray needs Ray: pip install "vidcolor[cluster]" (or pip install "ray>=2.9")') from None
    return ray


def check_address(address: str | None) -> str | None:
    """``--ray`` value -> what :func:`ray.init` takes: None (Ray's default), ``"local"`` (always a
    new local instance), ``"auto"``, ``host:port`` or ``ray://host:port``."""
    if address in (None, "", DEFAULT_ADDRESS):
        return None
    a = str(address)
    if a in ("local", "auto") or a.startswith("ray://") or (":" in a and a.rsplit(":", 1)[1].isdigit()):
        return a
    raise OptionError(f"--ray {a!r} is not a Ray address: use --ray alone (Ray's default), --ray=local, "
                      "--ray=auto, --ray=HOST:PORT or --ray=ray://HOST:10001")


def split_address(value: str | None, inputs: Sequence[str]) -> tuple[str | None, tuple[str, ...]]:
    """``--ray VALUE`` before the inputs: click takes the first input as the address. A value
    that is an existing path is given back to the inputs and the default address used ->
    (address for :func:`session`, inputs)."""
    if value is not None and value != DEFAULT_ADDRESS and os.path.exists(value):
        return DEFAULT_ADDRESS, (value, *inputs)
    return value, tuple(inputs)


@contextlib.contextmanager
def session(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """``with session(address) as ray:`` connected to a cluster (see :func:`check_address`);
    ``num_cpus`` limits a new local instance. An already initialized Ray (a test's, a notebook's)
    is used as it is and left running; one started here is shut down on leaving."""
    ray = require()
    if ray.is_initialized():
        yield ray
        return
    addr = check_address(address)
    kw: dict[str, Any] = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
    if addr is None or addr == "local":
        kw["num_cpus"] = num_cpus
    try:
        ray.init(address=addr, **kw)
    except ConnectionError as e:
        raise OptionError(f"cannot reach the Ray cluster at {addr}: {e}; is `ray start --head` running there?") from None
    except Exception as e:  # noqa: BLE001 - Ray raises many types for a bad address
        if isinstance(e, VidcolorError):
            raise
        raise OptionError(f"cannot start or join Ray (address {addr or 'default'}): {type(e).__name__}: "
                          f"{' '.join(str(e).split())[:200]}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def gpus_per_task(ray=None) -> float:
    """1 when the cluster has GPUs (one task per GPU), else 0."""
    ray = ray or require()
    return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


def cpus() -> int:
    """CPUs of the cluster."""
    return int(require().cluster_resources().get("CPU", 1))


class TaskFailed(VidcolorError):
    """A task failed on the cluster for a reason other than its own VidcolorError (its worker died
    more than ``max_retries`` times, the node was lost, or a bug)."""


def _unwrap(ray, e: BaseException, retries: int = options.RAY_RETRIES) -> BaseException:
    """A task's error -> the error a local run would have raised (a VidcolorError stays itself);
    ``retries``: the task's ``max_retries``, for the count of deaths."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, VidcolorError):
        return cause
    if isinstance(e, VidcolorError):
        return e
    if isinstance(e, ray.exceptions.WorkerCrashedError) or isinstance(e, ray.exceptions.NodeDiedError):
        return TaskFailed(f"its worker died {retries + 1} time{'s' if retries else ''} (out of memory? killed?)")
    msg = " ".join(str(cause if cause is not None else e).split())
    return TaskFailed(f"{type(cause or e).__name__}: {msg[:300]}")


def map_tasks(fn: Callable, args: Sequence[tuple], *, num_cpus: float = 1, num_gpus: float = 0,
              max_retries: int = options.RAY_RETRIES, name: str | None = None) -> Iterator[tuple[int, Any, BaseException | None]]:
    """Run ``fn(*args[i])`` as one Ray task per ``i``; yield ``(i, result, None)`` or ``(i, None,
    error)`` in completion order. A task whose worker dies is re-run up to ``max_retries`` times;
    a task that raises is not (its error is yielded: a :class:`VidcolorError` as it was raised,
    anything else as :class:`TaskFailed`). Call inside :func:`session`."""
    ray = require()
    remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries, retry_exceptions=False)(fn)
    if name:
        remote = remote.options(name=name)
    refs = {remote.remote(*a): i for i, a in enumerate(args)}
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            ref = done[0]
            try:
                yield refs[ref], ray.get(ref), None
            except Exception as e:  # noqa: BLE001 - each task's error goes to the caller
                yield refs[ref], None, _unwrap(ray, e, max_retries)
    finally:
        for ref in pending:                       # Ctrl-C or the caller stopped: no orphan tasks
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)


def local_threads() -> int:
    """Intra-op threads for torch inside a task: Ray sets ``OMP_NUM_THREADS`` to the task's CPUs."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "0")))
    except ValueError:
        return 1


def ordered(results: Iterable[tuple[int, Any, BaseException | None]], n: int) -> list[tuple[Any, BaseException | None]]:
    """Collect :func:`map_tasks` output back into argument order."""
    out: list[tuple[Any, BaseException | None]] = [(None, None)] * n
    for i, r, e in results:
        out[i] = (r, e)
    return out
