"""Rule test harness: load raw Windows events as ECS documents into a live cluster, run converted rules
against them, compare hits with the SigmaHQ regression samples' `match_count`."""
