"""Running the real service in a subprocess, for end-to-end tests.

The server is polled until it answers and always terminated afterwards.
Nothing asserts on timing; the start-up wait is only a bound so a broken start
fails with the server's output instead of hanging.
"""

import contextlib
import os
import signal
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from data.db import make_engine
from data.migrate import upgrade

START_TIMEOUT_SECONDS = 180
"""Only a bound against a hung start. On a slow machine (2026-11-30: importing the app took 15 s of CPU) under the
load of a parallel test run, 30 s was not enough for the server to answer."""


def clinic_script() -> str:
    """The `clinic` entry point installed next to this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "clinic"
    if beside.exists():
        return str(beside)
    found = shutil.which("clinic")
    if found is None:
        pytest.fail("the `clinic` script is not installed; pip install -e . first")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, process: subprocess.Popen, log: Path, base_url: str):
        self.process, self.log, self.base_url = process, log, base_url

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"`clinic serve` exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"`clinic serve` did not answer /health within {START_TIMEOUT_SECONDS} s:\n{self.output()}")

    def stop(self) -> None:
        """Stop the server and everything it started (a shell's children too): it runs in its own group."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any clinic setting, plus ``extra``; the venv's scripts on PATH."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("CLINIC_") and name != "DATABASE_URL"
    }
    environment["PATH"] = f"{Path(clinic_script()).parent}{os.pathsep}{environment.get('PATH', '')}"
    environment.update({"PYTHONUNBUFFERED": "1", **extra})
    return environment


def launch(command: list[str], *, port: int, cwd: Path, env: dict[str, str], log: Path) -> Server:
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Server(process, log, f"http://127.0.0.1:{port}")
    try:
        server.wait_until_up()
    except BaseException:
        server.stop()
        raise
    return server


def raw_exchange(server: Server, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send a request byte for byte (maybe unfinished, maybe lying about its length), then read until the server
    closes: status, headers (lower-case names) and body. For what an HTTP client library would not send."""
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.settimeout(START_TIMEOUT_SECONDS)  # only so a broken server fails the test instead of hanging it
        connection.sendall(head + body)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head_part, _, content = received.partition(b"\r\n\r\n")
    status_line, *lines = head_part.decode().split("\r\n")
    return int(status_line.split()[1]), dict(line.lower().split(": ", 1) for line in lines), content


@contextlib.contextmanager
def served_clinic(folder: Path, fill: Callable[[Session], Any] | None = None, *, url: str | None = None,
                  own_base_url: bool = False, **environment: str) -> Iterator[tuple[Server, Any]]:
    """`clinic serve` on a database migrated and filled by ``fill`` (its result is yielded with the server).

    The database is SQLite in ``folder`` unless ``url`` names another. Background jobs are off and the secret key is
    a test key unless ``environment`` says otherwise; ``own_base_url`` makes the server's links point at itself.
    """
    url = url or f"sqlite:///{folder / 'clinic.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        with Session(engine, expire_on_commit=False) as session:
            filled = fill(session) if fill else None
            session.commit()
    finally:
        engine.dispose()
    port = free_port()
    settings = {"CLINIC_DATABASE_URL": url, "CLINIC_SECRET_KEY": "served-clinic-" + "k" * 32,
                "CLINIC_BACKGROUND_JOBS": "false", **environment}
    if own_base_url:
        settings["CLINIC_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    server = launch([clinic_script(), "serve", "--host", "127.0.0.1", "--port", str(port)], port=port, cwd=folder,
                    env=clean_environment(**settings), log=folder / "server.log")
    try:
        yield server, filled
    finally:
        server.stop()
