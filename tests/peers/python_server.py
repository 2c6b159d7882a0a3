#!/usr/bin/env python3
"""A Flume Thrift source stand-in built on Apache Thrift's Python library.

Usage: python_server.py PORT PROTOCOL OUTPUT

PORT      port to listen on, on 127.0.0.1 (0: any free port)
PROTOCOL  compact | binary (strict TBinaryProtocol, as Flume's)
OUTPUT    file the received calls are written to

Needs the Python code generated from tests/peers/flume.thrift on PYTHONPATH
(`thrift --gen py -out DIR flume.thrift`, module `flume`). The server is
Thrift's own TThreadedServer over TFramedTransport, the pure-Python protocol
classes (not the C-accelerated ones) and the generated processor.

Prints "PORT <n>" on stdout once listening. Answers OK to every call and
appends each call to OUTPUT, flushed before the reply is sent:

    call <n> <method> <event count>
    event <hex body, or - if empty>[ <hex key>=<hex value>]...

Header keys and values are the UTF-8 bytes of the strings the generated code
decoded. Exits when stdin reaches end of file (its parent is gone).
"""

import os
import sys
import threading

from thrift.protocol import TBinaryProtocol, TCompactProtocol
from thrift.server import TServer
from thrift.transport import TSocket, TTransport

from flume import ThriftSourceProtocol
from flume.ttypes import Status


class Recorder(ThriftSourceProtocol.Iface):
    def __init__(self, path):
        self.out = open(path, "w", encoding="ascii")
        self.lock = threading.Lock()
        self.calls = 0

    def _record(self, method, events):
        lines = []
        for event in events:
            fields = [event.body.hex() if event.body else "-"]
            for key, value in event.headers.items():
                fields.append(key.encode("utf-8").hex() + "=" + value.encode("utf-8").hex())
            lines.append("event " + " ".join(fields) + "\n")
        with self.lock:
            self.calls += 1
            self.out.write("call %d %s %d\n" % (self.calls, method, len(events)))
            self.out.writelines(lines)
            self.out.flush()

    def append(self, event):
        self._record("append", [event])
        return Status.OK

    def appendBatch(self, events):
        self._record("appendBatch", events)
        return Status.OK


class ListenOnce:
    """A server socket that listens once, before serve(), so that the bound port can be announced."""

    def listen(self):
        if self.handle is None:
            super().listen()


class BoundServerSocket(ListenOnce, TSocket.TServerSocket):
    pass


def exit_at_stdin_eof():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def protocol_factory(name):
    if name == "compact":
        return TCompactProtocol.TCompactProtocolFactory()
    if name == "binary":
        return TBinaryProtocol.TBinaryProtocolFactory(strictRead=True, strictWrite=True)
    sys.exit("unknown protocol %r" % name)


def serve(socket, protocol, output):
    """Listens on `socket`, prints "PORT <n>", records calls to `output` until stdin closes."""
    socket.listen()
    bound = socket.handle.getsockname()[1]
    processor = ThriftSourceProtocol.Processor(Recorder(output))
    server = TServer.TThreadedServer(
        processor,
        socket,
        TTransport.TFramedTransportFactory(),
        protocol_factory(protocol),
        daemon=True,
    )
    threading.Thread(target=exit_at_stdin_eof, daemon=True).start()
    print("PORT %d" % bound, flush=True)
    server.serve()


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: python_server.py PORT PROTOCOL OUTPUT")
    port, protocol, output = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    serve(BoundServerSocket(host="127.0.0.1", port=port), protocol, output)


if __name__ == "__main__":
    main()
