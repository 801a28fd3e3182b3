"""Many rule files → results in file order, spread over all cores, answered from the cache when possible.

Workers are forked after the parent has imported pySigma and built the backend and its pipeline, so
each worker starts converting at once with the same (copy-on-write) objects; nothing is rebuilt. While
the parent does that, a helper process parses rule files on another core (`preparse`). The slowest
files go first, then runs of files that shrink towards the end, so the workers end together.
"""

from __future__ import annotations

import gc
import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sigma_es_backend.conversion import references, workers
from sigma_es_backend.conversion.cache import ResultCache
from sigma_es_backend.conversion.references import JobContext
from sigma_es_backend.conversion.results import RuleResult
from sigma_es_backend.conversion.settings import ConversionSettings

if TYPE_CHECKING:
    from sigma_es_backend.conversion.converter import Converter

# Below this many files to convert, forking workers costs more than it saves.
MIN_FILES_PER_WORKER = 16
# Each task is a run of files, the runs shorter as the work left shrinks ("guided" scheduling): a task
# takes half of a worker's share of what is left, at least SMALLEST_TASK files. Few tasks keep the
# parent's share of the work low (it receives each task's results); short last tasks let the workers end
# together (with 16 equal tasks per worker, one that ended with a few slow rules, regexp rewrites, left the
# other idle for up to half a second of the corpus's three).
SMALLEST_TASK = 8
# Files of at least this size, and files with a regular expression value (`|re`: the Lucene replay, maybe
# a rewrite and its proof, up to a quarter second for one rule), are sent first, each as its own task.
BIG_FILE_BYTES = 16_384
REGEXP_VALUE = re.compile(rb"\|re[|:]")

_worker_converter: Converter | None = None
# (index in the run's files, path, content, context, content parsed and pickled by `preparse` or None)
_worker_jobs: list[tuple[int, str, bytes | None, JobContext | None, bytes | None]] = []


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _tune_gc() -> None:
    """Workers collect garbage themselves, every GC_EVERY_FILES files.

    Conversion allocates many short-lived objects, in reference cycles (pySigma's parent links), and
    keeps few. With automatic collection (even with the imported modules and the pipeline frozen out of
    it and raised thresholds) the collector took a fifth of the workers' CPU on the corpus (6.3 s → 5.0 s
    without it); collecting every 256 files still cost 0.7 s. So a worker collects only every
    GC_EVERY_FILES files: for the SigmaHQ corpus never (one process or several), for larger sets memory
    stays bounded (the corpus's 3,754 files take one process from 43 MB to 190 MB). At 2,000 a worker that
    took a few more files than the other collected once near the end (0.4 s), the other idle meanwhile.
    """
    gc.freeze()
    gc.disable()


# A full collection after this many files in a worker (see _tune_gc).
GC_EVERY_FILES = 5000
_files_since_gc = 0


def _convert_in_worker(job_numbers: range) -> list[tuple[int, list[RuleResult]]]:
    global _files_since_gc
    # The jobs (file texts included) are inherited from the parent with the fork: a task is only numbers.
    assert _worker_converter is not None
    done = []
    for job_number in job_numbers:
        index, path, text, context, parsed = _worker_jobs[job_number]
        _files_since_gc += 1
        if _files_since_gc >= GC_EVERY_FILES:
            _files_since_gc = 0
            gc.collect()
        done.append((index, _worker_converter.convert_file(Path(path), text, context, parsed)))
    return done


def _lost(lost: workers.Lost, files: int) -> str:
    code = lost.exitcode
    if code is None:  # never sent to a worker: they had all died
        return ("not converted: every worker process had ended (see the other failures) before this file's "
                "turn; nothing was cached for it, run the conversion again")
    how = (f"was killed by signal {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals()
           else f"ended with status {code}")
    others = f" and {files - 1} other file{'s' if files > 2 else ''}" if files > 1 else ""
    return (f"not converted: the worker process converting this file{others} {how} (out of memory?); "
            "nothing was cached for it, run the conversion again")


def _read(path: Path) -> bytes:
    """The file's bytes, with the fewest system calls and no file object (half the time of read_bytes: it
    counts, the parent reads every file before the workers start)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _slow(text: bytes) -> bool:
    return len(text) >= BIG_FILE_BYTES or REGEXP_VALUE.search(text) is not None


def guided_tasks(start: int, stop: int, workers: int) -> list[range]:
    """Job numbers start..stop-1 as tasks, each half of a worker's share of what is left (see SMALLEST_TASK)."""
    tasks = []
    while start < stop:
        size = max(SMALLEST_TASK, (stop - start) // (2 * workers))
        tasks.append(range(start, min(stop, start + size)))
        start += size
    return tasks


def convert_files(files: list[Path], settings: ConversionSettings, *, jobs: int | None = None,
                  cache: ResultCache | None = None,
                  on_file_done: Callable[[], None] | None = None) -> Iterator[RuleResult]:
    """Yield the results of every file, in the order of `files`.

    Files whose content, path and settings are in `cache` are answered from it without loading pySigma;
    the others are converted (in worker processes when there are enough of them) and stored.
    """
    global _worker_converter, _worker_jobs
    results: list[list[RuleResult] | None] = [None] * len(files)
    texts: list[bytes | None] = [None] * len(files)
    keys: list[str | None] = [None] * len(files)
    pending: list[int] = []
    for i, path in enumerate(files):
        try:
            texts[i] = _read(path)
        except OSError:
            continue  # converted below, where the file and the reason are reported
    # correlation rules may reference rules of other files: each such file's job carries them
    contexts = references.plan(files, texts)
    if cache is None:
        pending = list(range(len(files)))
    else:
        for i, path in enumerate(files):
            if texts[i] is not None:
                context = contexts.get(i)
                keys[i] = cache.key(str(path), texts[i], context.key_material() if context else b"")
        cache.prefetch([k for k in keys if k is not None])
        for i, key in enumerate(keys):
            hit = cache.get(key) if key is not None else None
            if hit is None:
                pending.append(i)
            else:
                results[i] = hit

    def finished(i: int, file_results: list[RuleResult]) -> None:
        results[i] = file_results
        if cache is not None and keys[i] is not None:
            cache.put(keys[i], file_results)

    next_to_yield = 0

    def ready() -> Iterator[RuleResult]:
        nonlocal next_to_yield
        while next_to_yield < len(files) and results[next_to_yield] is not None:
            yield from results[next_to_yield]
            results[next_to_yield] = []  # release memory once written
            next_to_yield += 1
            if on_file_done is not None:
                on_file_done()

    yield from ready()
    if pending:
        jobs = max(1, jobs or default_jobs())
        jobs = min(jobs, max(1, len(pending) // MIN_FILES_PER_WORKER))
        # The slowest files first, one task each (thousand-value IOC lists, regexps): started last they
        # would leave one worker busy after the others end.
        slow = [_slow(texts[i] or b"") for i in pending] if jobs > 1 else [False] * len(pending)
        big = [i for i, is_slow in zip(pending, slow, strict=True) if is_slow]
        order = big + [i for i, is_slow in zip(pending, slow, strict=True) if not is_slow]
        # While this process imports pySigma and builds the converter, another core parses the files.
        from sigma_es_backend.conversion.preparse import Preparser  # not needed when all is cached

        try:
            preparser = Preparser([texts[i] for i in order]) if jobs > 1 else None
        except OSError:  # no process to spare: the workers parse every file themselves
            preparser = None
        try:
            from sigma_es_backend.conversion.converter import Converter

            converter = Converter(settings)
        finally:
            parsed = preparser.collect() if preparser is not None else {}
        job_list = [(i, str(files[i]), texts[i], contexts.get(i), parsed.get(n)) for n, i in enumerate(order)]
        if jobs == 1:
            # In this process, with the workers' garbage collection (_tune_gc: a fifth of the CPU otherwise),
            # the caller's collector settings restored at the end.
            was_enabled = gc.isenabled()
            gc.freeze()
            gc.disable()
            try:
                for count, (i, path, text, context, _) in enumerate(job_list, 1):
                    finished(i, converter.convert_file(Path(path), text, context))
                    if count % GC_EVERY_FILES == 0:
                        gc.collect()
                    yield from ready()
            finally:
                gc.unfreeze()
                if was_enabled:
                    gc.enable()
        else:
            _worker_converter = converter
            _worker_jobs = job_list
            tasks = [range(n, n + 1) for n in range(len(big))] + guided_tasks(len(big), len(order), jobs)
            try:
                for outcome in workers.run_tasks(_convert_in_worker, tasks, jobs, initializer=_tune_gc):
                    if isinstance(outcome, workers.Lost):  # failed, and not cached: a rerun converts them
                        for number in outcome.tasks:
                            for job_number in tasks[number]:
                                i = job_list[job_number][0]
                                results[i] = [RuleResult(str(files[i]), errors=[_lost(outcome, len(tasks[number]))])]
                    else:
                        for i, file_results in outcome[1]:
                            finished(i, file_results)
                    yield from ready()
            finally:
                _worker_converter = None
                _worker_jobs = []
    if cache is not None:
        cache.commit()
