"""The coverage layer read by MITRE's own layer code (PyPI mitreattack-python, `mitreattack.navlayers`): the
layer library loads it without a warning and without dropping or changing anything, and MITRE's Excel and
SVG exporters place every scored technique in its tactic's column of the ATT&CK matrix."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import openpyxl
import pytest
import stix2
from click.testing import CliRunner
from mitreattack import navlayers
from mitreattack.navlayers import ToExcel, ToSvg

from sigma_es_backend import attack
from sigma_es_backend.cli import cli
from tests.attack_stix import stix_objects


def rule(title: str, level: str, tags: list[str], image: str) -> str:
    return f"""title: {title}
id: {uuid.uuid5(uuid.NAMESPACE_URL, title)}
status: test
level: {level}
tags: [{', '.join(tags)}]
logsource: {{product: windows, category: process_creation}}
detection:
  selection:
    Image|endswith: '\\{image}'
  condition: selection
"""


# Sub-techniques with their parent expanded, a technique under two tactics (T1112 in v19: Defense Impairment
# and Persistence), a v19 tactic, scores from rule count and level. (MITRE's Excel exporter cannot place a
# sub-technique of the matrix's last column, Impact: a bug of the exporter, so none here.)
RULES = {
    "ps.yml": rule("PowerShell Encoded", "high", ["attack.execution", "attack.t1059.001"], "powershell.exe"),
    "ps2.yml": rule("PowerShell Download", "critical", ["attack.execution", "attack.t1059.001"], "pwsh.exe"),
    "cmd.yml": rule("Cmd Shell", "low", ["attack.execution", "attack.t1059.003"], "cmd.exe"),
    "rundll.yml": rule("Rundll32 Alone", "medium", ["attack.stealth", "attack.t1218.011"], "rundll32.exe"),
    "reg.yml": rule("Reg Add Run Key", "medium", ["attack.t1112"], "reg.exe"),
    "wevtutil.yml": rule("Clear Event Log", "high", ["attack.defense-impairment", "attack.t1685.005"],
                         "wevtutil.exe"),
}


@pytest.fixture(scope="module")
def layer_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rules")
    for name, text in RULES.items():
        (folder / name).write_text(text)
    path = folder.parent / "layer.json"
    result = CliRunner().invoke(cli, ["coverage", "--no-cache", "-j", "1", "--layer", str(path), str(folder)])
    assert result.exit_code == 0, result.output
    return path


def test_mitre_layer_library_loads_the_layer_unchanged(layer_path: Path, capsys: pytest.CaptureFixture) -> None:
    layer = navlayers.Layer()
    layer.from_file(str(layer_path))
    # The library prints every problem (unknown property, bad type, missing field, unknown version) and
    # skips the offending part: nothing printed, nothing dropped, nothing changed.
    assert capsys.readouterr().out == ""
    ours = json.loads(layer_path.read_text())
    assert layer.to_dict() == ours
    assert ours["versions"] == {"attack": "19", "navigator": "5.1.0", "layer": "4.5"}
    assert len(ours["techniques"]) == 9  # 6 technique/tactic cells + 3 parents shown expanded


def test_mitre_layer_library_reports_a_layer_it_cannot_read(layer_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    """Control for the test above: the same layer with one wrong type is reported and not loaded whole."""
    broken = copy.deepcopy(json.loads(layer_path.read_text()))
    broken["techniques"][0]["score"] = "9"
    layer = navlayers.Layer(broken)
    assert "score" in capsys.readouterr().out
    assert layer.to_dict() != broken


def stix_store() -> stix2.MemoryStore:
    """The bundled ATT&CK data as the STIX objects MITRE's matrix builder reads."""
    return stix2.MemoryStore(stix_data=stix_objects(attack.data()), allow_custom=True)


def test_mitre_exporters_place_every_scored_technique_under_its_tactic(
        layer_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = stix_store()
    layer = navlayers.Layer()
    layer.from_file(str(layer_path))
    ToExcel(domain="enterprise", source="memorystore", resource=store).to_xlsx(layer, str(tmp_path / "m.xlsx"))
    ToSvg(domain="enterprise", source="memorystore", resource=store).to_svg(layer, str(tmp_path / "m.svg"))
    # The exporters print "WARNING! Technique/Tactic ... does not appear to exist / seems malformed" for an
    # entry they cannot place.
    assert capsys.readouterr().out == ""

    sheet = openpyxl.load_workbook(tmp_path / "m.xlsx").active
    header = {cell.value.split(": ")[0]: cell.column for cell in sheet[1] if cell.value}
    assert list(header) == [t.id for t in attack.tactics()]
    scored = [e for e in json.loads(layer_path.read_text())["techniques"] if "score" in e]
    assert len(scored) == 6
    for entry in scored:
        column = header[attack.tactic(entry["tactic"]).id]
        # A technique sits in its tactic's column, a sub-technique in the column right of it.
        cells = [c for row in sheet.iter_rows(min_col=column, max_col=column + 1) for c in row
                 if str(c.value or "").startswith(entry["techniqueID"] + ": ")]
        assert len(cells) == 1, entry
        assert cells[0].comment is not None and cells[0].comment.text.startswith(entry["comment"])
        assert cells[0].fill.fgColor.rgb not in (None, "00000000", "00FFFFFF"), entry
    svg = (tmp_path / "m.svg").read_text()
    assert all(f"{e['techniqueID']}:" in svg for e in scored)
