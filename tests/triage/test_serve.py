"""`manage.py serve` (bin/serve's web server) answers without Nagle's delay."""

import socket

from triage.management.commands.serve import NoDelayWSGIServer


def test_the_embedded_server_turns_nagle_off_on_every_connection():
    server = NoDelayWSGIServer(("127.0.0.1", 0), None)
    try:
        client = socket.create_connection(server.server_address)
        accepted, _ = server.get_request()
        # Off by default on a TCP socket: responses written in two sends would wait ~40 ms.
        assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        accepted.close()
        client.close()
    finally:
        server.server_close()
