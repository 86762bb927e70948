"""ASGI entry point for uvicorn and other servers: ``uvicorn api.asgi:app``."""

from api import access_log
from api.main import create_app

access_log.install()  # here, so every worker process of ``clinic serve --workers N`` scrubs its log
app = create_app()
