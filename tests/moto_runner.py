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

import copy
import sys
import threading

from moto.dynamodb import models as dynamodb_models
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


def transactions_back_up_only_their_items():
    """moto backs a TransactWriteItems up by deep-copying each table it names, once per item, and
    puts the copy back if the transaction fails. That costs time and memory in proportion to the
    whole table: with a few thousand cases in the table every transaction took a long time, and
    moto grew past 20 GB and was killed. A transaction changes only the items it names, so this
    backs up those items instead and puts them back on failure (moto's own restore is then a
    no-op): the same all-or-nothing outcome, at a cost that does not grow with the table.
    DynamoDB's own limits and answers are untouched (moto still checks and raises them)."""

    class TablesNotCopied:
        """`copy` as moto's DynamoDB models see it: deep copies, except of a whole table."""

        def __getattr__(self, name):
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value, memo=None):
            if isinstance(value, dynamodb_models.Table):
                return value
            return copy.deepcopy(value, memo)

    backend = dynamodb_models.DynamoDBBackend
    moto_transact_write_items = backend.transact_write_items

    def transact_write_items(self, transact_items):
        backups = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            if "Item" in op:
                names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
                if not all(name in op["Item"] for name in names):
                    continue
                key = {name: op["Item"][name] for name in names}
            elif "Key" in op:
                key = op["Key"]
            else:
                continue
            try:
                current = self.get_item(table.name, key)
            except Exception:  # a malformed key: moto refuses the transaction before writing
                continue
            backups.append((table.name, key, current.to_json()["Attributes"] if current else None))
        try:
            return moto_transact_write_items(self, transact_items)
        except Exception:
            for table_name, key, attributes in reversed(backups):
                if attributes is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, copy.deepcopy(attributes))
            raise

    dynamodb_models.copy = TablesNotCopied()
    backend.transact_write_items = transact_write_items


def main() -> int:
    transactions_back_up_only_their_items()
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
