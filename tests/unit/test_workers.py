"""Forked workers: every task answered once, results in any order, a dying worker reported, never a hang."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from sigma_es_backend.conversion import ConversionSettings, batch, workers
from sigma_es_backend.conversion.batch import convert_files
from sigma_es_backend.conversion.cache import ResultCache


def run_tasks(function, tasks, processes: int, initializer=None):
    """A pool whose workers need no preparation beyond `function`, running `tasks`; closed with the generator."""
    if not tasks:
        return
    pool = workers.WorkerPool(lambda: function, min(processes, len(tasks)), initializer)
    try:
        yield from pool.run(tasks)
    finally:
        pool.close()


def square(n: int) -> int:
    return n * n


def test_every_task_is_answered_once_by_several_workers() -> None:
    seen_pids = set()

    def task(n: int) -> tuple[int, int]:
        time.sleep(0.002)
        return n * n, os.getpid()

    answers = {}
    for number, (value, pid) in run_tasks(task, list(range(50)), 3):
        assert number not in answers
        answers[number] = value
        seen_pids.add(pid)
    assert answers == {n: n * n for n in range(50)}
    assert len(seen_pids) == 3 and os.getpid() not in seen_pids


def test_fewer_tasks_than_workers_and_no_tasks() -> None:
    assert dict(run_tasks(square, [3], 4)) == {0: 9}
    assert list(run_tasks(square, [], 2)) == []


def test_a_dying_worker_loses_only_the_tasks_it_held() -> None:
    def task(n: int) -> int:
        if n == 7:
            os._exit(3)  # as a worker killed mid-task
        return n

    outcomes = list(run_tasks(task, list(range(30)), 2))
    lost = [o for o in outcomes if isinstance(o, workers.Lost)]
    answered = {o[0] for o in outcomes if not isinstance(o, workers.Lost)}
    assert len(lost) == 1 and 7 in lost[0].tasks and lost[0].exitcode == 3
    assert len(lost[0].tasks) <= workers.IN_HAND  # the task it ran and the one waiting for it
    assert answered | set(lost[0].tasks) == set(range(30)) and not answered & set(lost[0].tasks)


def test_when_every_worker_dies_every_task_is_accounted_for() -> None:
    def task(n: int) -> int:
        os._exit(1)

    outcomes = list(run_tasks(task, list(range(10)), 2))
    assert all(isinstance(o, workers.Lost) for o in outcomes)
    assert sorted(n for o in outcomes for n in o.tasks) == list(range(10))


def test_stopping_early_ends_the_workers() -> None:
    def task(n: int) -> int:
        time.sleep(0.01)
        return os.getpid()

    results = run_tasks(task, list(range(100)), 2)
    _, pid = next(results)
    results.close()
    time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


RULE = """
title: rule {n}
logsource: {{product: windows, category: process_creation}}
detection:
    sel: {{Image|endswith: '\\\\tool{n}.exe'}}
    condition: sel
"""


def test_a_batch_whose_worker_dies_reports_those_files_and_caches_nothing_for_them(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    for n in range(40):
        (tmp_path / f"r{n:02}.yml").write_text(RULE.format(n=n))
    files = sorted(tmp_path.glob("*.yml"))
    original = batch._convert_in_worker

    def dies_on_r13(task: batch.Task):
        if any(path.endswith("r13.yml") for _, path, *_ in batch.task_jobs(task)):
            os._exit(9)
        return original(task)

    monkeypatch.setattr(batch, "_convert_in_worker", dies_on_r13)
    settings = ConversionSettings.create("es_lucene")
    cache = ResultCache(tmp_path / "cache", settings)
    results = list(convert_files(files, settings, jobs=2, cache=cache))
    cache.close()
    assert [Path(r.path).name for r in results] == [f.name for f in files]  # every file, in order
    failed = [r for r in results if not r.ok]
    assert "r13.yml" in {Path(r.path).name for r in failed} and len(failed) < 40
    assert all("the worker process converting this file" in r.errors[0] and "status 9" in r.errors[0]
               for r in failed)
    assert all("tool" in r.queries[0] for r in results if r.ok)

    monkeypatch.setattr(batch, "_convert_in_worker", original)
    cache = ResultCache(tmp_path / "cache", settings)
    again = list(convert_files(files, settings, jobs=2, cache=cache))
    assert all(r.ok for r in again)
    assert cache.hits == 40 - len(failed)  # the lost files were converted again, not answered from the cache


def test_a_worker_dying_between_tasks_never_breaks_the_run() -> None:
    # the worker of task 3 ends shortly after answering it, whatever the parent is sending it by then
    def task(n: int) -> int:
        if n == 3:
            threading.Timer(0.045, os._exit, (5,)).start()  # during its next task
        time.sleep(0.03)
        return n

    for _ in range(3):
        outcomes = list(run_tasks(task, list(range(12)), 2))
        answered = [o[0] for o in outcomes if not isinstance(o, workers.Lost)]
        lost = [n for o in outcomes if isinstance(o, workers.Lost) for n in o.tasks]
        assert sorted(answered + lost) == list(range(12)) and 3 in answered


def test_lost_files_are_named_with_the_workers_end() -> None:
    assert "and 7 other files was killed by signal SIGKILL" in batch._lost(workers.Lost((0,), -9), 8)
    assert "this file ended with status 3 (out of memory?)" in batch._lost(workers.Lost((0,), 3), 1)
    assert "every worker process had ended" in batch._lost(workers.Lost((0, 1), None), 4)


def test_an_interrupted_worker_ends_quietly_and_its_tasks_are_lost(capfd) -> None:
    def task(n: int) -> int:
        if n == 2:
            raise KeyboardInterrupt  # as Ctrl-C in the worker
        return n

    outcomes = list(run_tasks(task, list(range(6)), 2))
    lost = [n for o in outcomes if isinstance(o, workers.Lost) for n in o.tasks]
    assert 2 in lost and sorted(lost + [o[0] for o in outcomes if not isinstance(o, workers.Lost)]) == list(range(6))
    assert "Traceback" not in capfd.readouterr().err


_prepared_in: int | None = None


def prepare_once() -> object:
    global _prepared_in
    _prepared_in = os.getpid()

    def task(n: int) -> tuple[int, int | None, int]:
        return n * n, _prepared_in, os.getpid()

    return task


def test_the_workers_share_what_one_process_prepared_before_forking_them() -> None:
    pool = workers.WorkerPool(prepare_once, 2)
    try:
        answers = [o for o in pool.run(list(range(20)))]
    finally:
        pool.close()
    assert sorted(number for number, _ in answers) == list(range(20))
    assert all(value == number * number for number, (value, _, _) in answers)
    prepared_in = {where for _, (_, where, _) in answers}
    worker_pids = {pid for _, (_, _, pid) in answers}
    assert len(prepared_in) == 1 and prepared_in.isdisjoint(worker_pids) and os.getpid() not in prepared_in
    assert _prepared_in is None  # never in this process


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("no")


def test_what_preparing_the_workers_raises_is_raised_in_the_parent() -> None:
    def broken_mapping() -> object:
        raise ValueError("mappings/x.yml: line 3: not a mapping")

    def odd_error() -> object:
        raise Unpicklable("cannot travel")

    for prepare, expected, text in ((broken_mapping, ValueError, "line 3: not a mapping"),
                                    (odd_error, workers.PreparationFailed, "Unpicklable: cannot travel")):
        pool = workers.WorkerPool(prepare, 2)
        try:
            with pytest.raises(expected, match=text):
                list(pool.run([1, 2, 3]))
        finally:
            pool.close()


def test_closing_a_pool_whose_workers_are_not_ready_ends_its_processes_at_once() -> None:
    def slow_preparation() -> object:
        time.sleep(30)
        return square

    pool = workers.WorkerPool(slow_preparation, 2)
    assert not pool.ready()
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 5 and not pool._zygote.is_alive()


def test_a_settings_error_found_while_preparing_the_workers_is_a_usage_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sigma_es_backend.cli import cli

    for n in range(40):  # enough files for the workers
        (tmp_path / f"r{n:02}.yml").write_text(RULE.format(n=n))
    result = CliRunner().invoke(cli, ["convert", "-t", "es_lucene", "-p", "nope", "-j", "2", "--no-cache",
                                      str(tmp_path)])
    assert result.exit_code == 2 and "unknown pipeline 'nope'" in result.stderr


def test_a_pool_with_more_workers_than_tasks_answers_them_and_ends() -> None:
    for tasks, expected in (([5], {0: 25}), ([], {})):
        pool = workers.WorkerPool(lambda: square, 4)
        try:
            assert dict(pool.run(tasks)) == expected
        finally:
            pool.close()


ORPHAN_SCRIPT = """
import os, sys, time
from sigma_es_backend.conversion import workers

def prepare():
    def task(n):
        time.sleep(0.05)
        return os.getpid()
    return task

pool = workers.WorkerPool(prepare, 2)
for _, pid in pool.run(list(range(1000))):
    print(pid, flush=True)
"""


def _gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_workers_whose_parent_is_killed_end_by_themselves(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT], stdout=subprocess.PIPE, text=True,
                              cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)})
    assert parent.stdout is not None
    pids: set[int] = set()
    while len(pids) < 2:
        pids.add(int(parent.stdout.readline()))
    parent.send_signal(signal.SIGKILL)  # no clean-up of its own
    parent.wait()
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(pid) for pid in pids)


def test_a_zygote_killed_while_preparing_is_reported_with_its_signal() -> None:
    import signal

    def killed() -> object:
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
        return square

    pool = workers.WorkerPool(killed, 2)
    try:
        with pytest.raises(workers.PreparationFailed, match="ended with status -9"):
            list(pool.run([1, 2]))
    finally:
        pool.close()


def test_workers_keep_to_a_cpu_each_only_when_there_is_one_per_cpu() -> None:
    assert [workers.cpu_of_worker(w, 2, [0, 1]) for w in range(2)] == [0, 1]
    assert [workers.cpu_of_worker(w, 3, [2, 5, 7]) for w in range(3)] == [2, 5, 7]  # the CPUs it may use
    assert workers.cpu_of_worker(0, 2, [0, 1, 2, 3]) is None  # fewer workers than CPUs: the scheduler's
    assert workers.cpu_of_worker(0, 4, [0, 1]) is None  # more workers than CPUs: the scheduler's


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux's")
def test_a_pool_with_one_worker_per_cpu_pins_each_to_its_own() -> None:
    original = os.sched_getaffinity(0)
    cpus = sorted(original)[:2]
    os.sched_setaffinity(0, cpus)  # this process may use these CPUs only: a pool of as many workers

    def where(_: int) -> frozenset[int]:
        return frozenset(os.sched_getaffinity(0))

    try:
        pool = workers.WorkerPool(lambda: where, len(cpus))
        try:
            seen = {affinity for _, affinity in pool.run(list(range(4 * len(cpus))))}
        finally:
            pool.close()
        assert seen == {frozenset({cpu}) for cpu in cpus}  # each worker has tasks: two in hand from the start
        assert os.sched_getaffinity(0) == set(cpus)  # the parent is not pinned
        if len(cpus) > 1:  # fewer workers than CPUs: none pinned
            fewer = workers.WorkerPool(lambda: where, 1)
            try:
                assert {affinity for _, affinity in fewer.run([0, 1])} == {frozenset(cpus)}
            finally:
                fewer.close()
    finally:
        os.sched_setaffinity(0, original)
