"""The installed pySigma's version (part of every cache key and of some error messages).

Read from pySigma's own `*.dist-info/METADATA` next to the `sigma` package, the `Version` field that
`importlib.metadata.version("pysigma")` returns, without importing importlib.metadata (0.03 s: a tenth
of a fully cached `sigma-es convert`). Anywhere else (an editable or unusual install) importlib.metadata
answers.
"""

from __future__ import annotations

import os
from functools import cache
from importlib import util


@cache
def pysigma_version() -> str:
    spec = util.find_spec("sigma")  # a namespace package: pySigma's directory and its plugins'
    locations = (spec.submodule_search_locations or []) if spec is not None else []
    places = {os.path.dirname(location) for location in locations}
    found = [os.path.join(place, name) for place in sorted(places) if os.path.isdir(place)
             for name in os.listdir(place) if name.lower().startswith("pysigma-") and name.endswith(".dist-info")]
    if len(found) == 1:
        try:
            with open(os.path.join(found[0], "METADATA"), encoding="utf-8") as metadata:
                for line in metadata:
                    if line.startswith("Version:"):
                        return line.split(":", 1)[1].strip()
                    if not line.strip():  # the headers end here
                        break
        except OSError:
            pass
    from importlib import metadata

    try:
        return metadata.version("pysigma")
    except metadata.PackageNotFoundError:  # pySigma importable without its metadata (a source checkout)
        return "unknown"
