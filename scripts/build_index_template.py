"""Write sigma_es_backend/events/ecs_mappings.json: the ECS composable templates from ../shared/ecs merged
into one compact mapping, bundled so that test indices get production field types without ../shared.

Usage: python scripts/build_index_template.py [ECS_DIR]   (default ../shared/ecs)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sigma_es_backend.events.templates import BUNDLED_ECS_MAPPINGS, merged_ecs_mappings  # noqa: E402


def render(ecs_dir: Path) -> str:
    return json.dumps(merged_ecs_mappings(ecs_dir), sort_keys=True, separators=(",", ":")) + "\n"


def main() -> None:
    ecs_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "ecs"
    BUNDLED_ECS_MAPPINGS.write_text(render(ecs_dir), encoding="utf-8")
    print(f"wrote {BUNDLED_ECS_MAPPINGS.relative_to(REPO)} from {ecs_dir}")


if __name__ == "__main__":
    main()
