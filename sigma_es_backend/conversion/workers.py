"""Worker processes forked from a start-up process that prepares them, the parent reading their results itself.

Preparing a worker (importing pySigma, building the backend and its pipeline) takes a fifth of a second. A
*zygote* process, forked as soon as the files are listed, does it once while the parent reads, hashes and
parses the rule files on the other core; it then forks the workers, which start with the same
(copy-on-write) objects, and stays to report how each of them ends. A fully cached run stops the zygote
before it is done: the parent never imports pySigma.

`multiprocessing.Pool` costs the parent process a tenth of a second of CPU over the SigmaHQ corpus, taken
from the workers on a two-core machine: its worker-handler thread wakes up whenever a result waits in the
shared result pipe, and its three threads take the GIL from the main thread, which writes the outputs and
the cache. Here the parent has no thread: it waits on one result pipe per worker and reads them itself.

Each worker has two tasks in hand (the one it runs and the next, in its task pipe): when a result comes
in, the parent sends that worker its next task before anything else, so a worker does not wait for the
parent between tasks. A worker that dies (killed, out of memory) does not hang the run as it would with
Pool: the tasks sent to it and not answered come back as `Lost`, with the exit status the zygote reports.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

# Tasks sent to a worker ahead of its results: the one it runs and the next.
IN_HAND = 2


@dataclass(frozen=True)
class Lost:
    """Tasks (their indices) whose worker ended before sending their results, and its exit code (negative:
    the signal that ended it; None: unknown)."""

    tasks: tuple[int, ...]
    exitcode: int | None


class PreparationFailed(RuntimeError):
    """Preparing the workers failed: the zygote ended (killed, out of memory) before they ran, or raised an
    exception that could not be sent to the parent as it was (then named here)."""


def _transportable(error: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any exception may fail to pickle
        return PreparationFailed(f"{type(error).__name__}: {error}")


def _work(function: Callable[[Any], Any], inbox: Connection, outbox: Connection,
          initializer: Callable[[], None] | None) -> None:
    if initializer is not None:
        initializer()
    while (message := inbox.recv()) is not None:
        number, task = message
        outbox.send((number, function(task)))


def _worker(function: Callable[[Any], Any], inbox: Connection, outbox: Connection,
            initializer: Callable[[], None] | None) -> None:
    code = 0
    try:
        _work(function, inbox, outbox, initializer)
    except (KeyboardInterrupt, EOFError, BrokenPipeError):  # a task interrupted, or the parent gone
        pass
    except BaseException:  # noqa: BLE001 - reported like an uncaught exception, the tasks come back Lost
        traceback.print_exc()
        code = 1
    finally:
        with suppress(Exception):
            sys.stderr.flush()
        os._exit(code)


def cpu_of_worker(worker: int, workers: int, cpus: Sequence[int]) -> int | None:
    """The CPU worker `worker` of `workers` keeps to: its own when there are as many workers as CPUs the
    process may use (the default), else None (the scheduler places it).

    Two busy workers and the parent share two CPUs: left to the scheduler, a worker can be moved to the
    other CPU (onto caches the other worker filled) whenever the parent wakes up. Kept on one CPU each,
    the SigmaHQ corpus converted 0.05–0.06 s faster on average in three of six series of 16–24 alternating
    runs (their medians 2.12–2.43 s) and within 0.015 s of the unpinned workers in the other three (medians
    2.08–2.13 s). With fewer workers than CPUs none is pinned: an idle CPU must stay reachable when another
    process takes the one a worker would be kept on."""
    return cpus[worker] if len(cpus) == workers else None


def _pin(worker: int, workers: int) -> None:
    getaffinity = getattr(os, "sched_getaffinity", None)
    setaffinity = getattr(os, "sched_setaffinity", None)
    if getaffinity is None or setaffinity is None:  # not on Linux
        return
    with suppress(OSError):
        cpu = cpu_of_worker(worker, workers, sorted(getaffinity(0)))
        if cpu is not None:
            setaffinity(0, {cpu})


def _zygote(prepare: Callable[[], Callable[[Any], Any]], initializer: Callable[[], None] | None,
            inboxes: list[Connection], outboxes: list[Connection], status: Connection,
            parent_ends: list[Connection]) -> None:
    # The parent's ends closed here (and so in every worker): a worker whose parent is gone reads end of file.
    for connection in parent_ends:
        connection.close()
    with suppress(OSError):
        os.setpgid(0, 0)  # its own process group, with the workers (the parent sets it too: no race)
    try:
        function = prepare()
    except KeyboardInterrupt:
        os._exit(1)
    except BaseException as error:  # noqa: BLE001 - the parent raises it
        with suppress(Exception):
            status.send(("failed", _transportable(error)))
        os._exit(1)
    pids = []
    for number, (inbox, outbox) in enumerate(zip(inboxes, outboxes, strict=True)):
        pid = os.fork()
        if pid == 0:
            for other, (other_in, other_out) in enumerate(zip(inboxes, outboxes, strict=True)):
                if other != number:
                    other_in.close()
                    other_out.close()
            status.close()
            _pin(number, len(inboxes))
            _worker(function, inbox, outbox, initializer)
        pids.append(pid)
    for inbox, outbox in zip(inboxes, outboxes, strict=True):  # only the workers keep their ends
        inbox.close()
        outbox.close()
    try:
        status.send(("ready", pids))
        while pids:
            pid, wait_status = os.wait()
            pids.remove(pid)
            status.send(("ended", pid, os.waitstatus_to_exitcode(wait_status)))
    except (KeyboardInterrupt, OSError):
        pass
    os._exit(0)


class WorkerPool:
    """`processes` workers, each running `function(task)` for the tasks `run` sends it, where `function` is
    what `prepare()` returns in the zygote (so the workers share what it built). `prepare` and the tasks'
    results must be picklable only as far as they cross processes: tasks and results do, `prepare` does not.
    """

    def __init__(self, prepare: Callable[[], Callable[[Any], Any]], processes: int,
                 initializer: Callable[[], None] | None = None):
        context = multiprocessing.get_context("fork")
        self.processes = processes
        opened: list[Connection] = []
        try:
            inboxes, outboxes, self._tasks_out, self._results_in = [], [], [], []
            for _ in range(processes):
                tasks_in, tasks_out = context.Pipe(duplex=False)
                results_in, results_out = context.Pipe(duplex=False)
                opened += (tasks_in, tasks_out, results_in, results_out)
                inboxes.append(tasks_in)
                outboxes.append(results_out)
                self._tasks_out.append(tasks_out)
                self._results_in.append(results_in)
            self._status, status_out = context.Pipe(duplex=False)
            opened += (self._status, status_out)
            parent_ends = [*self._tasks_out, *self._results_in, self._status]
            self._zygote = context.Process(target=_zygote, daemon=True,
                                           args=(prepare, initializer, inboxes, outboxes, status_out, parent_ends))
            self._zygote.start()
            with suppress(OSError):  # the zygote may have set it already
                os.setpgid(self._zygote.pid, self._zygote.pid)
        except BaseException:
            for connection in opened:
                connection.close()
            raise
        # Only the workers keep their task pipe's reading end and their result pipe's writing end: a worker
        # that dies gives the parent end of file, and the parent's end of a task pipe closed ends the worker.
        for connection in (*inboxes, *outboxes, status_out):
            connection.close()
        self._pids: list[int] | None = None
        self._ended: dict[int, int | None] = {}  # pid → exit code
        self._status_open = True
        self._closed = False

    def _read_status(self) -> None:
        try:
            message = self._status.recv()
        except (EOFError, OSError):
            self._status_open = False
            if self._pids is None:
                self._zygote.join()
                raise PreparationFailed(f"the process preparing the workers ended with status "
                                        f"{self._zygote.exitcode}") from None
            return
        if message[0] == "ready":
            self._pids = message[1]
        elif message[0] == "ended":
            self._ended[message[1]] = message[2]
        else:
            raise message[1]

    def ready(self) -> bool:
        """Whether the workers are running (without waiting); raises what preparing them raised."""
        while self._pids is None and self._status.poll():
            self._read_status()
        return self._pids is not None

    def _exit_code(self, worker: int) -> int | None:
        assert self._pids is not None
        pid = self._pids[worker]
        while pid not in self._ended and self._status_open:
            self._read_status()
        return self._ended.get(pid)

    def run(self, tasks: Sequence[Any]) -> Iterator[tuple[int, Any] | Lost]:
        """Yield (task index, function(task)) for every task as the workers finish them, in any order, or
        `Lost` for tasks whose worker died. Call once; `close` ends the workers."""
        while self._pids is None:
            self._read_status()
        following = 0  # the next task to send
        workers: dict[Connection, tuple[int, Connection, list[int]]] = {}  # result pipe → (worker, task pipe, in hand)
        for worker, (results_in, tasks_out) in enumerate(zip(self._results_in, self._tasks_out, strict=True)):
            workers[results_in] = (worker, tasks_out, [])
        for results_in, (_, tasks_out, in_hand) in list(workers.items()):
            for _ in range(IN_HAND):
                following = _send(tasks_out, in_hand, following, tasks)
            if not in_hand:  # more workers than tasks
                _try_send(tasks_out, None)
                del workers[results_in]
        while workers:
            for results_in in wait(list(workers)):
                worker, tasks_out, in_hand = workers[results_in]
                try:
                    number, result = results_in.recv()
                except (EOFError, OSError):  # the worker died
                    del workers[results_in]
                    if in_hand:
                        yield Lost(tuple(in_hand), self._exit_code(worker))
                    continue
                in_hand.remove(number)
                following = _send(tasks_out, in_hand, following, tasks)
                if not in_hand:
                    _try_send(tasks_out, None)
                    del workers[results_in]
                yield number, result
        if following < len(tasks):  # every worker died
            yield Lost(tuple(range(following, len(tasks))), None)

    def close(self) -> None:
        """End the zygote and the workers (killed where they are: their results are no longer wanted)."""
        if self._closed:
            return
        self._closed = True
        # One process group: a worker's pid cannot be taken by another process while the group lives, and
        # Ctrl-C in a terminal reaches only the parent, which reports it and ends them here.
        with suppress(OSError):
            os.killpg(self._zygote.pid, signal.SIGKILL)
        self._zygote.join()
        for connection in (*self._tasks_out, *self._results_in, self._status):
            connection.close()


def _send(tasks_out: Connection, in_hand: list[int], following: int, tasks: Sequence[Any]) -> int:
    """Send the worker task `following` (if any is left); it is in hand from here on: a worker that died
    meanwhile (the send fails) reports it lost when the parent reads its end of file."""
    if following < len(tasks):
        in_hand.append(following)
        _try_send(tasks_out, (following, tasks[following]))
        return following + 1
    return following


def _try_send(tasks_out: Connection, message: Any) -> None:
    with suppress(OSError):  # the worker is gone: its result pipe tells (end of file)
        tasks_out.send(message)
