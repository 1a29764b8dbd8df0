"""HTTP search service: a FastAPI app over any retriever, with micro-batched queries, Prometheus
metrics and a small search page (``uniret serve``)."""

from uniret.service.app import ServiceInfo, create_app
from uniret.service.config import ServiceConfig

__all__ = ["ServiceConfig", "ServiceInfo", "create_app"]
