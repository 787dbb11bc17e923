"""Helpers for tests that run real processes (the web server, a celery worker) beside pytest
or call the WSGI entry point in-process, and the one fake: an app receiving our webhooks."""

import contextlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_SHAPE = bool(settings.REDIS_URL)


def worker_env():
    env = dict(os.environ)
    db = settings.DATABASES["default"]
    # The worker must see the test database pytest-django created, not the configured one.
    env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    # Fake receiving apps in tests listen on 127.0.0.1.
    env["TRIAGE_WEBHOOK_ALLOW_PRIVATE"] = "1"
    return env


def wait_for(predicate, timeout=60, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def multipart_body(*parts, boundary="b"):
    """A multipart/form-data body from (name, content type, bytes) parts."""
    body = b""
    for name, content_type, data in parts:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode()


def wsgi_call(method, path, body=b"", app=None, **environ):
    """One request straight into the production entry point (config.wsgi.application, with
    its ingest lane) on this thread: (status, headers, body)."""
    if app is None:
        from config.wsgi import application as app
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "HTTP_HOST": "testserver",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(body)), **environ,
    }  # fmt: skip
    answer = []
    content = b"".join(app(environ, lambda s, h, e=None: answer.append((s, h))))
    status, headers = answer[0]
    return int(status.split()[0]), dict(headers), content


@contextlib.contextmanager
def kept_test_connection():
    """Inside a test's transaction, calls straight into the WSGI app must keep the test's
    connection open across requests, as django.test.Client does: Django's handler would
    close it through request_started/finished, the ingest lane directly."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from feedback import ingest_lane

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    ingest_lane.close_old_connections = lambda: None
    try:
        yield
    finally:
        ingest_lane.close_old_connections = close_old_connections
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def web_server(log_dir, **env):
    """The app the production way (config/web.py: granian, one worker) on the test database;
    yields its URL.

    `env` overrides the environment (e.g. a dead REDIS_URL).
    """
    port = free_port()
    log_path = log_dir / "web.log"
    log = open(log_path, "w")
    server_env = {"PORT": str(port), "WEB_HOST": "127.0.0.1", "WEB_CONCURRENCY": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "config.web"],
        cwd=ROOT, env={**worker_env(), "DEBUG": "0", **server_env, **env}, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(f"{url}/api/langsmith/info", timeout=5).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            return proc.poll() is not None  # died: fail below with its log

    try:
        wait_for(up, timeout=60, what="the web server to start")
        assert proc.poll() is None, log_path.read_text()[-3000:]
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


class Receiver:
    """The app's webhook endpoint: records each request, answers with the next status."""

    def __init__(self, statuses=(200,)):
        self.statuses, self.requests = list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = (
                    receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                )
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/triage"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
