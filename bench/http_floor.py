"""The least a keep-alive POST can cost here: the production web server (config/web.py, same
workers and threads as the service) running a WSGI app that reads the body and answers 201
with no work at all. bench/ingest.py times it next to the service to print the floor of a
single post."""


def app(environ, start_response):
    environ["wsgi.input"].read()
    body = b'{"id": null, "status": "created"}'
    start_response(
        "201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
