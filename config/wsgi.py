"""WSGI entry point. API paths run a shorter middleware chain than pages.

Sessions, CSRF, the logged-in user, messages, htmx and static files mean nothing to a
request authenticated by an API key, yet cost a single ingest post a quarter of its CPU.
Every other middleware (security headers, the API error shape, body limits, …) runs for
both, so an API answer is the same from either chain. A plain ingest post skips even that:
feedback/ingest_lane.py answers it before Django's handler.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
pages = get_wsgi_application()

from django.conf import settings  # noqa: E402  (after setup)
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402

from accounts.errors import API_PREFIXES  # noqa: E402
from feedback import ingest_lane  # noqa: E402


class _ApiHandler(WSGIHandler):
    def load_middleware(self, is_async=False):
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = [m for m in full if m not in settings.API_SKIPS_MIDDLEWARE]
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


api = _ApiHandler()
ingest = ingest_lane.IngestLane(api)  # POST /api/v1/feedback; what it leaves goes to `api`


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == ingest_lane.PATH:
        return ingest(environ, start_response)
    if path.startswith(API_PREFIXES):
        return api(environ, start_response)
    return pages(environ, start_response)


# Move the loaded app out of the collector's way. A batch keeps tens of thousands of objects
# alive while it is handled, so young collections promote them and full collections follow
# every few batches; each full pass walked the whole app (~100 ms a pass, ~5 µs per event
# ingested). Frozen objects are never scanned again.
gc.freeze()
