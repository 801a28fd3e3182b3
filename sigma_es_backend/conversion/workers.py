"""Forked worker processes running numbered tasks, the parent reading their results itself.

`multiprocessing.Pool` costs the parent process a tenth of a second of CPU over the SigmaHQ corpus, taken
from the workers on a two-core machine: its worker-handler thread wakes up whenever a result waits in the
shared result pipe (and again, until the result-handler thread has read it), and its three threads take
the GIL from the main thread, which writes the outputs and the cache. Here the parent has no thread: it
waits on one result pipe per worker and reads them itself.

Each worker has two tasks in hand (the one it runs and the next, in its task pipe): when a result comes
in, the parent sends that worker its next task before anything else, so a worker does not wait for the
parent between tasks. A worker that dies (killed, out of memory) does not hang the run as it would with
Pool: the tasks sent to it and not answered come back as `Lost`.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

# Tasks sent to a worker ahead of its results: the one it runs and the next.
IN_HAND = 2


@dataclass(frozen=True)
class Lost:
    """Tasks (their indices) whose worker ended before sending their results, and its exit code."""

    tasks: tuple[int, ...]
    exitcode: int | None


def _work(function: Callable[[Any], Any], tasks: Sequence[Any], inbox: Connection, outbox: Connection,
          initializer: Callable[[], None] | None) -> None:
    if initializer is not None:
        initializer()
    try:
        while (number := inbox.recv()) is not None:
            outbox.send((number, function(tasks[number])))
    except KeyboardInterrupt:  # Ctrl-C reaches every process of the group: the parent reports it, once
        pass


def run_tasks(function: Callable[[Any], Any], tasks: Sequence[Any], processes: int,
              initializer: Callable[[], None] | None = None) -> Iterator[tuple[int, Any] | Lost]:
    """Yield (task index, function(task)) for every task as the workers finish them, in any order, or
    `Lost` for tasks whose worker died. The `processes` workers are forked: they inherit the caller's memory
    (`function` and `tasks` need not be picklable; results must be). They end with the generator."""
    context = multiprocessing.get_context("fork")
    workers: dict[Connection, tuple[Any, Connection, list[int]]] = {}  # result pipe → (process, task pipe, in hand)
    started = []
    opened: list[Connection] = []
    following = 0  # the next task to send
    try:
        for _ in range(min(processes, len(tasks))):
            results_in, results_out = context.Pipe(duplex=False)
            tasks_in, tasks_out = context.Pipe(duplex=False)
            process = context.Process(target=_work, args=(function, tasks, tasks_in, results_out, initializer),
                                      daemon=True)
            try:
                process.start()
            except BaseException:
                for connection in (results_in, results_out, tasks_in, tasks_out):
                    connection.close()
                raise
            started.append(process)
            # Only the worker keeps its result pipe's writing end: when it dies, the parent reads EOF.
            results_out.close()
            tasks_in.close()
            opened += (results_in, tasks_out)
            workers[results_in] = (process, tasks_out, [])
        for _, tasks_out, in_hand in workers.values():
            for _ in range(IN_HAND):
                following = _send(tasks_out, in_hand, following, len(tasks))
        while workers:
            for results_in in wait(list(workers)):
                process, tasks_out, in_hand = workers[results_in]
                try:
                    number, result = results_in.recv()
                except (EOFError, OSError):  # the worker died
                    del workers[results_in]
                    process.join()
                    if in_hand:
                        yield Lost(tuple(in_hand), process.exitcode)
                    continue
                in_hand.remove(number)
                following = _send(tasks_out, in_hand, following, len(tasks))
                if not in_hand:
                    _try_send(tasks_out, None)
                    del workers[results_in]
                yield number, result
        if following < len(tasks):  # every worker died
            yield Lost(tuple(range(following, len(tasks))), None)
    finally:
        for process, _, _ in workers.values():  # left early (an exception, the caller stopped)
            process.kill()
        for process in started:  # the others were told to stop and are ending
            process.join()
        for connection in opened:
            connection.close()


def _send(tasks_out: Connection, in_hand: list[int], following: int, count: int) -> int:
    """Send the worker task `following` (if any is left); it is in hand from here on: a worker that died
    meanwhile (the send fails) reports it lost when the parent reads its end of file."""
    if following < count:
        in_hand.append(following)
        _try_send(tasks_out, following)
        return following + 1
    return following


def _try_send(tasks_out: Connection, message: int | None) -> None:
    with suppress(OSError):  # the worker is gone: its result pipe tells (end of file)
        tasks_out.send(message)
