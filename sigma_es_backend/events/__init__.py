"""Raw events → ECS documents, and the index templates that give test indices production field types."""
