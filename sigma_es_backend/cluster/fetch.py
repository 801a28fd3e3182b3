"""Download Maven artifacts into a cache laid out like a Maven repository.

Two ways, chosen by ``$SIGMA_ES_FETCHER`` (``auto`` by default):

* ``mvn`` – ``mvn dependency:copy`` on a throwaway POM listing the artifacts.  Preferred when
  ``mvn`` is on PATH because it honours the user's ``settings.xml`` (mirrors, proxies, credentials)
  and shares ``~/.m2``.  One Maven run fetches a whole batch: a JVM start costs seconds.
* ``https`` – plain urllib from ``$SIGMA_ES_MAVEN_REPO`` (default Maven Central), with the
  ``.sha1`` checksum verified when the repository has one.

``auto`` uses mvn when present and falls back to HTTPS for whatever mvn could not deliver, so an
odd Maven set-up never blocks a download that plain HTTPS can do.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape

from . import ClusterError, progress
from .artifacts import DEFAULT_REPOSITORY, Coordinate

ENV_REPOSITORY = "SIGMA_ES_MAVEN_REPO"
ENV_FETCHER = "SIGMA_ES_FETCHER"
FETCHERS = ("auto", "mvn", "https")

_MVN_TIMEOUT = 900  # seconds for one Maven run (the integ-test zip alone is ~56 MB)
_HTTP_TIMEOUT = 60  # seconds of socket inactivity before a download attempt fails
_HTTP_ATTEMPTS = 3
_CHUNK = 1 << 20
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_USER_AGENT = "sigma-es-cluster/1 (+urllib)"


def repository_url() -> str:
    """The repository for HTTPS downloads: ``$SIGMA_ES_MAVEN_REPO`` or Maven Central."""
    return (os.environ.get(ENV_REPOSITORY) or DEFAULT_REPOSITORY).rstrip("/")


def fetcher_choice(tool: str | None = None) -> str:
    """Validated fetcher name from ``tool`` or ``$SIGMA_ES_FETCHER`` (default ``auto``)."""
    choice = (tool or os.environ.get(ENV_FETCHER) or "auto").strip().lower()
    if choice not in FETCHERS:
        raise ClusterError(f"bad {ENV_FETCHER}={choice!r} (want one of {', '.join(FETCHERS)})")
    return choice


def cached_path(downloads: Path, coord: Coordinate) -> Path:
    """Where ``coord`` lives in the download cache (Maven repository layout)."""
    return downloads / coord.repository_path


def download_error(coord: Coordinate, reason: str) -> ClusterError:
    """The one-line error for an artifact that could not be downloaded."""
    return ClusterError(f"download failed: {coord}: {one_line(reason)}")


def one_line(text: str, limit: int = 400) -> str:
    """Collapse whitespace so a message stays on one line; cut overly long ones."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def fetch_artifacts(
    coords: Iterable[Coordinate],
    downloads: Path,
    *,
    tool: str | None = None,
) -> dict[Coordinate, Path]:
    """Make every coordinate present in ``downloads``; return coordinate → local file.

    Artifacts already cached are not fetched again.  Raises :class:`ClusterError`
    (``download failed: <coordinate>: <reason>``) for the first artifact no method could fetch.
    """
    wanted = list(dict.fromkeys(coords))
    result = {c: cached_path(downloads, c) for c in wanted}
    todo = [c for c in wanted if not result[c].is_file()]
    if not todo:
        return result
    choice = fetcher_choice(tool)
    mvn_reasons: dict[Coordinate, str] = {}
    if choice in ("auto", "mvn") and shutil.which("mvn"):
        progress(f"fetching {len(todo)} artifact(s) with mvn")
        mvn_reasons = _mvn_fetch(todo, downloads)
        todo = [c for c in todo if not result[c].is_file()]
    elif choice == "mvn":
        raise ClusterError(f"mvn not found on PATH ({ENV_FETCHER}=mvn)")
    if todo and choice == "mvn":
        coord = todo[0]
        raise download_error(coord, "mvn: " + mvn_reasons.get(coord, "not delivered"))
    for coord in todo:
        try:
            _http_fetch(coord, result[coord], repository_url())
        except _DownloadError as exc:
            reason = f"https: {exc}"
            if coord in mvn_reasons:
                reason = f"mvn: {mvn_reasons[coord]}; {reason}"
            raise download_error(coord, reason) from None
    return result


class _DownloadError(Exception):
    """An HTTPS download attempt failed; the message is the reason."""


# ---------------------------------------------------------------------------------------------
# mvn


def render_pom(coords: Iterable[Coordinate], output_dir: Path, repository: str | None = None) -> str:
    """A throwaway POM whose ``dependency:copy`` copies ``coords`` (flat) into ``output_dir``.

    ``repository`` adds a repository besides Central (used when ``$SIGMA_ES_MAVEN_REPO`` is set).
    """
    items = []
    for c in coords:
        classifier = f"<classifier>{escape(c.classifier)}</classifier>" if c.classifier else ""
        items.append(
            "        <artifactItem>"
            f"<groupId>{escape(c.group)}</groupId><artifactId>{escape(c.artifact)}</artifactId>"
            f"<version>{escape(c.version)}</version><type>{escape(c.packaging)}</type>{classifier}"
            "</artifactItem>"
        )
    repos = ""
    if repository:
        repos = (
            "  <repositories><repository><id>sigma-es-repository</id>"
            f"<url>{escape(repository)}</url></repository></repositories>\n"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>local.sigma-es</groupId><artifactId>fetch</artifactId>"
        "<version>0</version><packaging>pom</packaging>\n"
        f"{repos}"
        "  <build><plugins><plugin>\n"
        "    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId>"
        "<version>3.6.1</version>\n"
        "    <configuration>\n"
        f"      <outputDirectory>{escape(str(output_dir))}</outputDirectory>\n"
        "      <artifactItems>\n" + "\n".join(items) + "\n      </artifactItems>\n"
        "    </configuration>\n"
        "  </plugin></plugins></build>\n"
        "</project>\n"
    )


def mvn_error_reason(output: str) -> str:
    """The useful part of Maven's first ``[ERROR]`` line, or a generic reason."""
    for raw in _ANSI.sub("", output).splitlines():
        line = raw.strip()
        if not line.startswith("[ERROR]"):
            continue
        text = line.removeprefix("[ERROR]").strip()
        if not text:
            continue
        # "Failed to execute goal …:copy (default-cli) on project fetch: <reason> -> [Help 1]"
        text = re.sub(r"^Failed to execute goal .*? on project \S+: ", "", text)
        text = re.sub(r"\s*->\s*\[Help \d+\]$", "", text)
        return text
    return "mvn failed without an [ERROR] line"


def _mvn_fetch(coords: list[Coordinate], downloads: Path) -> dict[Coordinate, str]:
    """Copy ``coords`` with one Maven run; return the failure reason per coordinate not delivered.

    A batch fails as a whole when one artifact is missing (Maven's message names it).  No per-artifact
    Maven retries: a misconfigured Maven would cost seconds per artifact, while the HTTPS fallback
    sorts out what is really missing quickly.
    """
    reason = _mvn_run(coords, downloads)
    if reason is None:
        return {}
    return {c: reason for c in coords if not cached_path(downloads, c).is_file()}


def _mvn_run(coords: list[Coordinate], downloads: Path) -> str | None:
    """Run ``mvn dependency:copy`` for ``coords``; move results into the cache; None on success."""
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mvn-", dir=downloads) as tmp:
        work = Path(tmp)
        out = work / "out"
        pom = work / "pom.xml"
        explicit_repo = os.environ.get(ENV_REPOSITORY)
        pom.write_text(render_pom(coords, out, explicit_repo), encoding="utf-8")
        # -U: re-ask the repository for artifacts Maven remembers as missing (a retry should retry).
        cmd = ["mvn", "-B", "-q", "-U", "-Dstyle.color=never", "-f", str(pom), "dependency:copy"]
        try:
            proc = subprocess.run(
                cmd, cwd=work, capture_output=True, text=True, timeout=_MVN_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            return f"mvn timed out after {_MVN_TIMEOUT}s"
        except OSError as exc:
            return f"cannot run mvn: {exc}"
        for coord in coords:
            produced = out / coord.filename
            if produced.is_file():
                _move_into(produced, cached_path(downloads, coord))
        if proc.returncode != 0:
            return mvn_error_reason(proc.stdout + "\n" + proc.stderr)
        missing = [c for c in coords if not cached_path(downloads, c).is_file()]
        return f"mvn reported success but did not produce {missing[0].filename}" if missing else None


def _move_into(src: Path, dest: Path) -> None:
    """Move a finished file into the cache atomically (no half files under the final name)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    shutil.move(str(src), tmp)
    os.replace(tmp, dest)


# ---------------------------------------------------------------------------------------------
# HTTPS


def _http_fetch(coord: Coordinate, dest: Path, repository: str) -> None:
    """Download ``coord`` to ``dest`` with retries for transient errors (not for 4xx)."""
    url = coord.url(repository)
    expected = _expected_sha1(coord, repository)
    last = ""
    for attempt in range(1, _HTTP_ATTEMPTS + 1):
        try:
            _http_download(url, dest, expected)
            return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code} {exc.reason} from {url}"
            if 400 <= exc.code < 500:
                break
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            last = f"cannot reach {url}: {reason}"
        except _DownloadError as exc:
            last = str(exc)
        if attempt < _HTTP_ATTEMPTS:
            time.sleep(2 * attempt)
    raise _DownloadError(last)


def _open(url: str):  # -> http.client.HTTPResponse
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    return urllib.request.urlopen(request, timeout=_HTTP_TIMEOUT)  # noqa: S310 - https/file URLs by design


def _expected_sha1(coord: Coordinate, repository: str) -> str | None:
    """The published SHA-1 of ``coord``, or None when the repository has no checksum file."""
    try:
        with _open(coord.url(repository) + ".sha1") as resp:
            text = resp.read(4096).decode("ascii", "replace")
    except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError):
        return None
    match = re.search(r"\b[0-9a-fA-F]{40}\b", text)
    return match.group(0).lower() if match else None


def _http_download(url: str, dest: Path, expected_sha1: str | None) -> None:
    """Stream ``url`` into ``dest`` (atomically), verifying ``expected_sha1`` if given."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha1()  # noqa: S324 - Maven's checksum, integrity not security
    with _open(url) as resp, part.open("wb") as fh:
        size = int(resp.headers.get("Content-Length") or 0)
        if size > 4 * _CHUNK:
            progress(f"downloading {url.rsplit('/', 1)[-1]} ({size / _CHUNK:.0f} MB)")
        while chunk := resp.read(_CHUNK):
            digest.update(chunk)
            fh.write(chunk)
    actual = digest.hexdigest()
    if expected_sha1 and actual != expected_sha1:
        part.unlink(missing_ok=True)
        raise _DownloadError(f"sha1 mismatch for {url}: got {actual}, expected {expected_sha1}")
    os.replace(part, dest)
