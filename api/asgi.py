"""ASGI entry point for uvicorn and other servers: ``uvicorn api.asgi:app``."""

from api import access_log
from api.main import create_app
from data.config import get_settings

# here, so every worker process of ``clinic serve --workers N`` scrubs its log and writes it in the chosen format
access_log.install(get_settings().log_format)
app = create_app()
