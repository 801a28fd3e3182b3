# pySigma discovery shim: `pipelines` maps pipeline ids to functions returning a ProcessingPipeline.
from sigma_es_backend.pipelines import pipelines

__all__ = ["pipelines"]
