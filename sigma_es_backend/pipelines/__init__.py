"""Processing pipelines built from mappings/. `pipelines` is the registry of their ids."""

from sigma_es_backend.pipelines.ecs import default_mapping_set, ecs_pipeline

pipelines = {"ecs": ecs_pipeline}

__all__ = ["default_mapping_set", "ecs_pipeline", "pipelines"]
