"""Processing pipelines built from mappings/. `pipelines` is the registry of their ids."""

from sigma_es_backend.pipelines.ecs import default_mapping_set, ecs_endpoint_pipeline, ecs_pipeline

pipelines = {"ecs": ecs_pipeline, "ecs_endpoint": ecs_endpoint_pipeline}

__all__ = ["default_mapping_set", "ecs_endpoint_pipeline", "ecs_pipeline", "pipelines"]
