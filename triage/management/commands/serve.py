"""`manage.py serve`: the embedded shape's web server (bin/serve), runserver with Nagle off.

runserver writes a response's headers and body in separate sends; with Nagle's algorithm on,
the body then waits for the client's delayed ACK of the headers (~40 ms on Linux), so every
keep-alive request cost ~50 ms. Production servers send with TCP_NODELAY; this does the same.
Everything else is runserver as django.contrib.staticfiles extends it (--insecure serves
the static files).
"""

import socket

from django.contrib.staticfiles.management.commands.runserver import Command as RunserverCommand
from django.core.servers.basehttp import WSGIServer


class NoDelayWSGIServer(WSGIServer):
    def get_request(self):
        sock, address = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, address


class Command(RunserverCommand):
    help = "Serve the embedded shape (runserver, with responses sent without Nagle's delay)."
    server_cls = NoDelayWSGIServer
