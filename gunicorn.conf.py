# Read by gunicorn from the working directory (Procfile's `web`, tests/support.py): its error
# and access lines go through the same scrubbing as the app's (config/log_filters.py).
logger_class = "config.log_filters.GunicornLogger"
