"""Keep a Kibana space or an OpenSearch cluster in step with a Sigma rule repository: plan, then apply."""
