"""Start moto on a free loopback port for one test process, and stop when that process goes away.

Prints exactly one line `listening on http://127.0.0.1:<port>` once moto accepts requests, then
waits for end-of-file on stdin: the parent holds the other end of the pipe, so moto exits when the
parent exits for any reason (even a panic or SIGKILL), and no moto outlives its tests.

moto's in-memory backends are not thread-safe (concurrent TransactWriteItems on one table fail
with "dictionary changed size during iteration"), so requests are handled one at a time, as
DynamoDB itself serializes writes to an item. Connections are still accepted concurrently.

Every request first passes the local IAM (local_iam.py): a Lambda's own access key is refused what
its role's policies do not allow, as on AWS.
"""

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from local_iam import LocalIam


class SerializedApp:
    """Runs one request at a time through the wrapped WSGI app, behind the local IAM."""

    def __init__(self, app):
        self._app = app
        self._lock = threading.Lock()
        self._iam = LocalIam()

    def __call__(self, environ, start_response):
        # The local IAM's own routes and its checks need no lock: they never touch moto's state.
        if self._iam.handles(environ):
            return self._iam.admin(environ, start_response)
        refusal = self._iam.check_aws_request(environ)
        if refusal is not None:
            status, headers, body = refusal
            start_response(status, headers)
            return body
        with self._lock:
            # Materialize the body inside the lock: moto builds responses lazily.
            return list(self._app(environ, start_response))


def main() -> int:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    app = SerializedApp(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, bound = server.server_address[:2]
    print(f"listening on http://{host}:{bound}", flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
