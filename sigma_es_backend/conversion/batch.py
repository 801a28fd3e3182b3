"""Many rule files → results in file order, spread over all cores, answered from the cache when possible.

As soon as there are enough files for several workers, a zygote process (`workers.WorkerPool`) imports
pySigma and builds the backend and its pipeline, then forks the workers, which start converting at once
with the same (copy-on-write) objects; nothing is rebuilt. Meanwhile the parent reads the files, answers
what it can from the cache and parses the YAML of the others (the workers unpickle those documents, a
tenth of the parsing time). The slowest files go first, then runs of files that shrink towards the end, so
the workers end together.
"""

from __future__ import annotations

import gc
import os
import pickle
import re
import signal
import tempfile
from collections.abc import Callable, Iterator, Sequence
from functools import partial
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

# Where a file's bytes lie in the run's JobData: (offset, length).
Extent = tuple[int, int]
# A file to convert: (index in the run's files, path, content, context, content parsed and pickled or None)
Job = tuple[int, str, Extent | None, JobContext | None, Extent | None]

_worker_converter: Converter | None = None
_worker_data: JobData | None = None


class JobData:
    """The contents (and parsed documents) of the files to convert, in one anonymous file the workers read by
    offset. The workers are forked before the files are read, so these must reach them; in the task pipes
    they would make a task larger than a pipe holds (64 KiB), and the parent would wait on a worker busy
    with its previous task before it could send the other one its first."""

    def __init__(self) -> None:
        memfd_create = getattr(os, "memfd_create", None)
        self._file = None if memfd_create is not None else tempfile.TemporaryFile()
        self.fd = memfd_create("sigma-es-jobs") if memfd_create is not None else self._file.fileno()
        self.size = 0

    def put(self, data: bytes) -> Extent:
        """Append `data`; where it lies."""
        view = memoryview(data)
        offset = self.size
        while view:
            view = view[os.pwrite(self.fd, view, offset + len(data) - len(view)):]
        self.size += len(data)
        return offset, len(data)

    def get(self, extent: Extent) -> bytes:
        offset, length = extent
        chunks = []
        while length:
            chunk = os.pread(self.fd, length, offset)
            if not chunk:
                raise EOFError(f"job data ends before byte {offset + length}")
            chunks.append(chunk)
            offset += len(chunk)
            length -= len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        else:
            os.close(self.fd)


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


def _prepare_worker(settings: ConversionSettings,
                    data: JobData) -> Callable[[Task], list[tuple[int, list[RuleResult]]]]:
    """In the zygote: the converter every worker shares (importing pySigma here: the parent never does)."""
    global _worker_converter, _worker_data
    from sigma_es_backend.conversion.converter import Converter

    _worker_converter = Converter(settings)
    _worker_data = data
    return _convert_in_worker


# A task: (where the run's pickled job list lies in its JobData, the numbers of the jobs to do).
Task = tuple[Extent, range]
_worker_jobs: tuple[Extent, list[Job]] | None = None  # the job list a worker loaded, and where it came from


def task_jobs(task: Task) -> list[Job]:
    """In a worker: the jobs of a task (the run's job list is read once)."""
    global _worker_jobs
    assert _worker_data is not None
    extent, numbers = task
    if _worker_jobs is None or _worker_jobs[0] != extent:
        _worker_jobs = (extent, pickle.loads(_worker_data.get(extent)))
    jobs = _worker_jobs[1]
    return [jobs[n] for n in numbers]


def _convert_in_worker(task: Task) -> list[tuple[int, list[RuleResult]]]:
    global _files_since_gc
    assert _worker_converter is not None and _worker_data is not None
    done = []
    for index, path, text, context, parsed in task_jobs(task):
        _files_since_gc += 1
        if _files_since_gc >= GC_EVERY_FILES:
            _files_since_gc = 0
            gc.collect()
        # the content only when the parent did not parse it (convert_file reads it only to parse it)
        documents = _worker_data.get(parsed) if parsed is not None else None
        content = _worker_data.get(text) if text is not None and documents is None else None
        done.append((index, _worker_converter.convert_file(Path(path), content, context, documents)))
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


def _read(path: str | os.PathLike[str]) -> bytes:
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


def convert_files(files: Sequence[str | os.PathLike[str]], settings: ConversionSettings, *, jobs: int | None = None,
                  cache: ResultCache | None = None,
                  on_file_done: Callable[[], None] | None = None) -> Iterator[RuleResult]:
    """Yield the results of every file, in the order of `files`.

    Files whose content, path and settings are in `cache` are answered from it without loading pySigma;
    the others are converted (in worker processes when there are enough of them) and stored.
    """
    jobs = max(1, jobs or default_jobs())
    processes = min(jobs, len(files) // MIN_FILES_PER_WORKER)
    pool = data = None
    if processes > 1:  # started before anything else: preparing the workers is the longest step
        try:
            data = JobData()
            pool = workers.WorkerPool(partial(_prepare_worker, settings, data), processes, initializer=_tune_gc)
        except OSError:  # no process to spare: this one converts every file
            pool = None
    try:
        yield from _convert_files(files, settings, cache, on_file_done, pool, data)
    finally:
        if pool is not None:
            pool.close()
        if data is not None:
            data.close()


def _convert_files(files: Sequence[str | os.PathLike[str]], settings: ConversionSettings, cache: ResultCache | None,
                   on_file_done: Callable[[], None] | None, pool: workers.WorkerPool | None,
                   data: JobData | None) -> Iterator[RuleResult]:
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

    if pool is not None and len(pending) < pool.processes * MIN_FILES_PER_WORKER:
        pool.close()  # (nearly) all answered from the cache: the workers are not worth preparing further
        pool = None
    yield from ready()
    if pending and pool is None:
        # In this process, with the workers' garbage collection (_tune_gc: a fifth of the CPU otherwise),
        # the caller's collector settings restored at the end.
        from sigma_es_backend.conversion.converter import Converter

        converter = Converter(settings)
        was_enabled = gc.isenabled()
        gc.freeze()
        gc.disable()
        try:
            for count, i in enumerate(pending, 1):
                finished(i, converter.convert_file(Path(files[i]), texts[i], contexts.get(i)))
                if count % GC_EVERY_FILES == 0:
                    gc.collect()
                yield from ready()
        finally:
            gc.unfreeze()
            if was_enabled:
                gc.enable()
    elif pending:
        assert pool is not None and data is not None
        # The slowest files first, one task each (thousand-value IOC lists, regexps): started last they
        # would leave one worker busy after the others end.
        slow = [_slow(texts[i] or b"") for i in pending]
        big = [i for i, is_slow in zip(pending, slow, strict=True) if is_slow]
        order = big + [i for i, is_slow in zip(pending, slow, strict=True) if not is_slow]
        contents = _put_all(data, [texts[i] for i in order])
        parsed = _parse_until_ready(pool, data, [texts[i] for i in order])
        job_list: list[Job] = [(i, str(files[i]), contents[n], contexts.get(i), parsed.get(n))
                               for n, i in enumerate(order)]
        # The job list is read by the workers from `data` too: tasks stay a few bytes, so sending one never
        # waits for a worker (one sending its results would wait for this process: a deadlock).
        jobs_extent = data.put(pickle.dumps(job_list, pickle.HIGHEST_PROTOCOL))
        tasks: list[Task] = [(jobs_extent, run) for run in (
            [range(n, n + 1) for n in range(len(big))] + guided_tasks(len(big), len(order), pool.processes))]
        for outcome in pool.run(tasks):
            if isinstance(outcome, workers.Lost):  # failed, and not cached: a rerun converts them
                for number in outcome.tasks:
                    for job_number in tasks[number][1]:
                        i = job_list[job_number][0]
                        results[i] = [RuleResult(str(files[i]), errors=[_lost(outcome, len(tasks[number][1]))])]
            else:
                for i, file_results in outcome[1]:
                    finished(i, file_results)
            yield from ready()
    if cache is not None:
        cache.commit()


def _put_all(data: JobData, texts: list[bytes | None]) -> list[Extent | None]:
    """Every text into `data` (one write), where each lies."""
    base = data.put(b"".join(text for text in texts if text is not None))[0]
    extents: list[Extent | None] = []
    for text in texts:
        if text is None:
            extents.append(None)
        else:
            extents.append((base, len(text)))
            base += len(text)
    return extents


def _parse_until_ready(pool: workers.WorkerPool, data: JobData, texts: list[bytes | None]) -> dict[int, Extent]:
    """{position: where the file's YAML, parsed and pickled, lies in `data`}, for the files parsed here while
    the zygote prepares the workers (they parse the others themselves)."""
    from sigma_es_backend.conversion.parsing import pickled_parse

    parsed: dict[int, Extent] = {}
    for position, text in enumerate(texts):
        if pool.ready():
            break
        blob = pickled_parse(text) if text is not None else None
        if blob is not None:
            parsed[position] = data.put(blob)
    return parsed
