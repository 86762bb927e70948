"""A `clinic worker`'s own scrape target: the counters of the jobs it did.

A job worker serves no API, so without this its counts (jobs done and their
times, message deliveries, holds released by the sweeper) would be seen only
where ``PROMETHEUS_MULTIPROC_DIR`` is shared with a web process on the same
machine. ``clinic worker --metrics-port`` serves them on their own port with
prometheus_client's WSGI app, behind ``CLINIC_METRICS_TOKEN`` when it is set.
The database-read gauges (queues, last nights, unresolved messages) stay with
the web process's ``/metrics``: served twice, they would be summed twice.
"""

import logging
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from data.config import Settings
from scheduler.metrics import counted_here, scrape_allowed

logger = logging.getLogger(__name__)

PATH = "/metrics"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scraper never holds the worker's exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002  (the base class's name)
        logger.debug("metrics scrape: " + format, *args)


def metrics_app(settings: Settings):
    """The WSGI app: ``GET /metrics`` for a scraper allowed by ``scrape_allowed``; 401 or 404 otherwise."""
    exposition = make_wsgi_app(counted_here(settings))

    def app(environ, start_response):
        if environ.get("PATH_INFO") != PATH:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [f"a worker serves only {PATH}\n".encode()]
        if not scrape_allowed(settings, environ.get("HTTP_AUTHORIZATION", "")):
            start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                                ("WWW-Authenticate", 'Bearer realm="metrics"')])
            return [b"send the metrics token (CLINIC_METRICS_TOKEN) as a bearer token\n"]
        return exposition(environ, start_response)

    return app


def serve_metrics(settings: Settings, host: str, port: int) -> WSGIServer:
    """Serve ``metrics_app`` in a daemon thread; returns the server (``.server_port`` is the port bound)."""
    server = make_server(host, port, metrics_app(settings), server_class=_Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    return server
