"""Correlation rules referencing rules of other files of the same conversion run: resolved across the
run (sequential and in worker processes), reported per file, each failure confined to its rule, and the
cache keyed on what a file's results depend on in other files."""

from __future__ import annotations

from pathlib import Path

from sigma_es_backend.conversion.batch import convert_files
from sigma_es_backend.conversion.cache import ResultCache
from sigma_es_backend.conversion.settings import ConversionSettings
from tests.unit.test_correlations import BASE_RULES

WHOAMI, NET = BASE_RULES.split("---")
CORRELATION = """
title: Recon burst
name: recon_burst
correlation:
    type: temporal_ordered
    rules: [whoami, net]
    group-by: [ParentImage]
    timespan: 5m
"""
FILLER = """
title: Filler {n}
logsource: {{product: windows, category: process_creation}}
detection:
    selection:
        Image|endswith: '\\\\filler{n}.exe'
    condition: selection
"""


def run(files: list[Path], jobs: int = 1, cache: ResultCache | None = None) -> dict[tuple[str, str], list[str]]:
    results = convert_files(files, ConversionSettings.create("es_eql"), jobs=jobs, cache=cache)
    return {(Path(r.path).name, r.title): (r.queries or r.errors) for r in results}


def layout(tmp_path: Path, correlation: str = CORRELATION) -> list[Path]:
    files = {"a_correlation.yml": correlation, "b_whoami.yml": WHOAMI, "c_net.yml": NET}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return [tmp_path / name for name in files]


def test_correlation_resolves_rules_of_other_files(tmp_path: Path) -> None:
    results = run(layout(tmp_path))
    (query,) = results[("a_correlation.yml", "Recon burst")]
    assert query.startswith("sequence with maxspan=300s [any where ") and "whoami.exe" in query and "net.exe" in query
    # referenced without `generate`: not output by their own files (as pySigma does for one collection),
    # and reported once, by their own file
    assert results[("b_whoami.yml", "Whoami")] == [] and results[("c_net.yml", "Net")] == []
    assert len(results) == 3


def test_generate_keeps_the_referenced_rules_output(tmp_path: Path) -> None:
    results = run(layout(tmp_path, CORRELATION + "    generate: true\n"))
    assert results[("b_whoami.yml", "Whoami")][0].startswith("any where ")
    assert results[("a_correlation.yml", "Recon burst")][0].startswith("sequence ")


def test_a_reference_missing_from_the_run_fails_only_its_correlation(tmp_path: Path) -> None:
    files = layout(tmp_path, CORRELATION.replace("[whoami, net]", "[whoami, nosuchrule]"))
    results = run(files)
    (error,) = results[("a_correlation.yml", "Recon burst")]
    assert "Rule 'nosuchrule' not found" in error
    assert results[("c_net.yml", "Net")][0].startswith("any where ")  # not referenced: output


def test_a_referenced_file_that_fails_fails_the_correlation_naming_the_rule(tmp_path: Path) -> None:
    files = layout(tmp_path)
    files[2].write_text(NET.replace("Image|endswith: '\\net.exe'", "keywords: [x]").replace("condition: selection",
                                                                                         "condition: keywords"))
    results = run(files)
    assert "referenced rule 'net' was not converted" in results[("a_correlation.yml", "Recon burst")][0]


def test_workers_resolve_across_files_too(tmp_path: Path) -> None:
    files = layout(tmp_path)
    for n in range(40):  # enough files for two worker processes
        path = tmp_path / f"filler{n:02}.yml"
        path.write_text(FILLER.format(n=n))
        files.append(path)
    assert run(files, jobs=2) == run(files, jobs=1)
    assert run(files, jobs=2)[("a_correlation.yml", "Recon burst")][0].startswith("sequence ")


def test_cache_key_follows_the_referenced_files(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    files = layout(rules)
    cache = ResultCache(tmp_path / "cache", ConversionSettings.create("es_eql"))
    try:
        first = run(files, cache=cache)[("a_correlation.yml", "Recon burst")][0]
        files[1].write_text(WHOAMI.replace("whoami.exe", "hostname.exe"))  # only the referenced file changes
        second = run(files, cache=cache)[("a_correlation.yml", "Recon burst")][0]
        assert "hostname.exe" in second and "whoami.exe" not in second and first != second
        # a rule another file references is not output; once nothing references it, it is again
        files[0].write_text(CORRELATION.replace("[whoami, net]", "[whoami]").replace("temporal_ordered", "event_count")
                            + "    condition: {gte: 2}\n")
        assert run(files, cache=cache)[("c_net.yml", "Net")][0].startswith("any where ")
    finally:
        cache.close()


def test_a_decimal_threshold_is_exact_or_refused_never_truncated(tmp_path: Path) -> None:
    """pySigma 2 keeps 1.5 (compared as the fraction 3/2); pySigma 1.5 would read it as 1: refused."""
    from importlib.metadata import version

    path = tmp_path / "avg.yml"
    path.write_text(BASE_RULES + "---" + CORRELATION.replace("temporal_ordered", "value_avg").replace(
        "[whoami, net]", "[whoami]") + "    condition: {gt: 1.5, field: ProcessId}\n")
    results = convert_files([path], ConversionSettings.create("es_esql"), jobs=1)
    (correlation,) = [r for r in results if r.title == "Recon burst"]
    if int(version("pysigma").split(".")[0]) >= 2:
        assert correlation.queries[0].endswith("| WHERE value_sum * 2 > 3 * value_n")
    else:
        assert correlation.errors == [f"correlation condition 'gt: 1.5' is no integer: pySigma {version('pysigma')} "
                                      f"reads it as 1 (use pySigma 2 for decimal thresholds) in {path}"]
