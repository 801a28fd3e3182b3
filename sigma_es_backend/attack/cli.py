"""``sigma-es attack …``: show and refresh the bundled ATT&CK data."""

from __future__ import annotations

from pathlib import Path

import click

from sigma_es_backend import attack
from sigma_es_backend.attack.stix import StixBundleError, data_from_stix_file


@click.group(name="attack", context_settings={"help_option_names": ["-h", "--help"]})
def attack_group() -> None:
    """MITRE ATT&CK data used for tags, Kibana `threat` and coverage (bundled, offline)."""


@attack_group.command()
def info() -> None:
    """Print the data file in use and its version."""
    d = attack.data()
    click.echo(f"{attack.data_path()}\n{attack.data_version()}\n"
               f"{len(d.tactics)} tactics, {len(d.techniques)} techniques")


@attack_group.command()
@click.option("--stix", "stix_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="enterprise-attack STIX bundle (MITRE attack-stix-data, e.g. enterprise-attack-19.0.json).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"Where to write the data [default: the package's bundled file; point "
                   f"{attack.DATA_ENV} at another file to use it].")
def refresh(stix_file: Path, output: Path | None) -> None:
    """Rebuild the ATT&CK data from a STIX bundle file you provide (no network)."""
    try:
        data = data_from_stix_file(stix_file)
    except StixBundleError as error:
        raise click.ClickException(str(error)) from error
    target = output or attack.BUNDLED_DATA
    try:
        data.write(target)
    except OSError as error:
        raise click.ClickException(f"cannot write {target}: {error} (use --output FILE and "
                                   f"{attack.DATA_ENV}=FILE)") from error
    attack.reload()
    click.echo(f"{target}: enterprise-attack {data.version}, {len(data.tactics)} tactics, "
               f"{len(data.techniques)} techniques")
