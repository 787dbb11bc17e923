"""The production web server: granian serving config.wsgi (Procfile's `web`, the tests'
and benchmarks' servers). `python -m config.web`.

Why granian and not gunicorn: it speaks HTTP in Rust. A keep-alive round trip to an app
that does nothing took 0.55-0.65 ms through gunicorn's threaded worker and 0.15-0.17 ms
through granian on the same machine (bench/ingest.py prints it as the floor of a post),
more than half of a single ingest post's 1 ms budget.

Environment: PORT (8000), WEB_CONCURRENCY worker processes (4), WEB_THREADS per worker
(4: a slow export or page must not hold every request up), WEB_HOST (0.0.0.0),
WEB_LOG_LEVEL (info), WEB_ACCESS_LOG=1 for one line per request. Its log lines go through
the same scrubbing as the app's (config/log_filters.py): they carry request paths, where
feedback tokens live.
"""

import os

from granian import Granian
from granian.constants import Interfaces

# granian's default but for "ms" glued to the duration: "200 12.345" reads as a phone number
# to the scrubber.
ACCESS_FORMAT = '[%(time)s] %(addr)s "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).3fms'


def log_config():
    """granian's own loggers (server events, access lines) on stderr, scrubbed."""
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "filters": ["scrub_pii"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"scrub_pii": {"()": "config.log_filters.ScrubPiiFilter"}},
        "formatters": {
            "generic": {"format": "[%(asctime)s] [%(levelname)s] %(message)s"},
            "access": {"format": "%(message)s"},
        },
        "handlers": {
            "console": {**handler, "formatter": "generic"},
            "access": {**handler, "formatter": "access"},
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def server(app="config.wsgi:application", *, port=None, workers=None, host=None, log_level=None):
    env = os.environ.get
    return Granian(
        app,
        interface=Interfaces.WSGI,
        address=host or env("WEB_HOST", "0.0.0.0"),
        port=int(port or env("PORT", 8000)),
        workers=int(workers or env("WEB_CONCURRENCY", 4)),
        blocking_threads=int(env("WEB_THREADS", 4)),
        respawn_failed_workers=True,
        log_level=log_level or env("WEB_LOG_LEVEL", "info"),
        log_dictconfig=log_config(),
        log_access=env("WEB_ACCESS_LOG", "0") == "1",
        log_access_format=ACCESS_FORMAT,
        # A stuck request must not keep a deploy waiting for ever.
        workers_kill_timeout=30,
    )


if __name__ == "__main__":
    server().serve()
