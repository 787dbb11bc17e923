# Read by gunicorn from the working directory (Procfile's `web`, tests/support.py): its error
# and access lines go through the same scrubbing as the app's (config/log_filters.py).
logger_class = "config.log_filters.GunicornLogger"
# Threaded workers keep client connections alive between requests (apps and SDKs post over
# keep-alive sessions; the sync worker closes each connection). Override on the command line.
worker_class = "gthread"
threads = 4
keepalive = 30


def post_worker_init(worker):
    """Move the loaded app out of the collector's way. A batch keeps tens of thousands of
    objects alive while it is handled, so young collections promote them and full
    collections follow every few batches; each full pass walked the whole app (~100 ms a
    pass, ~5 µs per event ingested). Frozen objects are never scanned again."""
    import gc

    gc.freeze()
