# Read by gunicorn from the working directory (Procfile's `web`, tests/support.py): its error
# and access lines go through the same scrubbing as the app's (config/log_filters.py).
logger_class = "config.log_filters.GunicornLogger"
# Threaded workers keep client connections alive between requests (apps and SDKs post over
# keep-alive sessions; the sync worker closes each connection). Override on the command line.
worker_class = "gthread"
threads = 4
keepalive = 30
