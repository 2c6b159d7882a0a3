#!/usr/bin/env python3
"""A Flume Thrift source stand-in serving TLS, on Apache Thrift's Python library.

Usage: python_tls_server.py PORT PROTOCOL OUTPUT CERTFILE KEYFILE [CLIENT_CA]

PORT       port to listen on, on 127.0.0.1 (0: any free port)
PROTOCOL   compact | binary (strict TBinaryProtocol, as Flume's)
OUTPUT     file the received calls are written to (python_server.py's format)
CERTFILE   the server's PEM certificate chain
KEYFILE    its PEM private key
CLIENT_CA  if given, a client certificate signed by this PEM CA is required

Thrift's TSSLServerSocket (Python's ssl module, so OpenSSL) under
TThreadedServer and TFramedTransport, with python_server.py's recorder. Prints
"PORT <n>" once listening; exits when stdin reaches end of file.
"""

import os
import ssl
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from thrift.protocol import TBinaryProtocol, TCompactProtocol  # noqa: E402
from thrift.server import TServer  # noqa: E402
from thrift.transport import TSSLSocket, TTransport  # noqa: E402

from flume import ThriftSourceProtocol  # noqa: E402
from python_server import Recorder, exit_at_stdin_eof  # noqa: E402


class BoundSSLServerSocket(TSSLSocket.TSSLServerSocket):
    """Listens once, before serve(), so that the bound port can be announced."""

    def listen(self):
        if self.handle is None:
            super().listen()


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit("usage: python_tls_server.py PORT PROTOCOL OUTPUT CERTFILE KEYFILE [CLIENT_CA]")
    port, protocol, output, certfile, keyfile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    if protocol == "compact":
        protocol_factory = TCompactProtocol.TCompactProtocolFactory()
    elif protocol == "binary":
        protocol_factory = TBinaryProtocol.TBinaryProtocolFactory(strictRead=True, strictWrite=True)
    else:
        sys.exit("unknown protocol %r" % protocol)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    if len(sys.argv) == 7:
        context.load_verify_locations(sys.argv[6])
        context.verify_mode = ssl.CERT_REQUIRED

    socket = BoundSSLServerSocket(
        host="127.0.0.1", port=port, ssl_context=context, validate_callback=lambda cert, host: None
    )
    socket.listen()
    bound = socket.handle.getsockname()[1]

    processor = ThriftSourceProtocol.Processor(Recorder(output))
    server = TServer.TThreadedServer(
        processor,
        socket,
        TTransport.TFramedTransportFactory(),
        protocol_factory,
        daemon=True,
    )
    threading.Thread(target=exit_at_stdin_eof, daemon=True).start()
    print("PORT %d" % bound, flush=True)
    server.serve()


if __name__ == "__main__":
    main()
