"""Start moto on a free loopback port for one test process, and stop when that process goes away.

Prints exactly one line `listening on http://127.0.0.1:<port>` once moto accepts requests, then
waits for end-of-file on stdin: the parent holds the other end of the pipe, so moto exits when the
parent exits for any reason (even a panic or SIGKILL), and no moto outlives its tests.
"""

import sys

from moto.moto_server.threaded_moto_server import ThreadedMotoServer


def main() -> int:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    print(f"listening on http://{host}:{bound}", flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
