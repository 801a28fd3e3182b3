"""How to reach a cluster or Kibana: URL, basic auth or API key, CA bundle, TLS verify — one definition for
the harness (`sigma-es ingest/test`) and the deploy targets. Secrets are only handed to the clients;
nothing prints or logs them (they are left out of the repr)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opensearchpy import OpenSearch


@dataclass(frozen=True)
class Connection:
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    ca_cert: str | None = None
    verify: bool = True
    timeout: int = 60
    space: str | None = None  # Kibana space (deploy to Kibana only)

    @classmethod
    def from_options(cls, url: str, username: str | None = None, password: str | None = None,
                     api_key: str | None = None, ca_cert: str | None = None, insecure: bool = False,
                     space: str | None = None) -> Connection:
        """Options win; else SIGMA_ES_USERNAME / SIGMA_ES_PASSWORD / SIGMA_ES_API_KEY / SIGMA_ES_CA_CERT."""
        env = os.environ
        return cls(url.rstrip("/"), username or env.get("SIGMA_ES_USERNAME") or None,
                   password or env.get("SIGMA_ES_PASSWORD") or None, api_key or env.get("SIGMA_ES_API_KEY") or None,
                   ca_cert or env.get("SIGMA_ES_CA_CERT") or None, not insecure, space=space)

    def client(self) -> OpenSearch:
        """An HTTP client for OpenSearch or Elasticsearch (only plain REST endpoints are used)."""
        from opensearchpy import OpenSearch  # the deploy targets do without it

        kwargs: dict[str, Any] = {"verify_certs": self.verify, "ssl_show_warn": False, "timeout": self.timeout}
        if self.ca_cert:
            kwargs["ca_certs"] = self.ca_cert
        if self.username:
            kwargs["http_auth"] = (self.username, self.password or "")
        if self.api_key:
            kwargs["headers"] = {"Authorization": f"ApiKey {self.api_key}"}
        return OpenSearch(self.url, **kwargs)
