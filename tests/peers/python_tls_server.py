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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from thrift.transport import TSSLSocket  # noqa: E402

from python_server import ListenOnce, serve  # noqa: E402


class BoundSSLServerSocket(ListenOnce, TSSLSocket.TSSLServerSocket):
    pass


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit("usage: python_tls_server.py PORT PROTOCOL OUTPUT CERTFILE KEYFILE [CLIENT_CA]")
    port, protocol, output, certfile, keyfile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    if len(sys.argv) == 7:
        context.load_verify_locations(sys.argv[6])
        context.verify_mode = ssl.CERT_REQUIRED
    socket = BoundSSLServerSocket(
        host="127.0.0.1", port=port, ssl_context=context, validate_callback=lambda cert, host: None
    )
    serve(socket, protocol, output)


if __name__ == "__main__":
    main()
