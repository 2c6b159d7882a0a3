// bench_thrift: the benchmark's Apache Thrift C++ client, the usual way to
// talk to Flume's Thrift source from C++: code generated from flume.thrift by
// `thrift --gen cpp`, TSocket + TFramedTransport + TCompactProtocol or
// TBinaryProtocol, the generated ThriftSourceProtocolClient.
//
//   bench_thrift PORT SERVER PROTOCOL BATCH BODY WARMUP SECONDS
//
// With BENCH_TLS_CA set (a PEM CA file), TSSLSocket (OpenSSL) instead of
// TSocket, trusting that CA and checking the server's name: the TLS column.
//
// append() for BATCH 1, appendBatch() of BATCH events otherwise. The events
// are built once, before timing (the library's C benchmark gets its
// flume_event array built once too). Prints one JSON line (bench_common.h).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSSLSocket.h>
#include <thrift/transport/TSocket.h>

#include "ThriftSourceProtocol.h"
#include "bench_common.h"

using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::protocol::TCompactProtocol;
using apache::thrift::protocol::TProtocol;
using apache::thrift::transport::TFramedTransport;
using apache::thrift::transport::TSocket;
using apache::thrift::transport::TSSLSocketFactory;

namespace {

struct Ctx {
  ThriftSourceProtocolClient *client;
  std::vector<ThriftFlumeEvent> *events;
};

int call(void *p) {
  Ctx *c = static_cast<Ctx *>(p);
  try {
    Status::type s = c->events->size() == 1 ? c->client->append((*c->events)[0]) : c->client->appendBatch(*c->events);
    if (s != Status::OK) {
      std::fprintf(stderr, "bench_thrift: status %d\n", static_cast<int>(s));
      return 1;
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "bench_thrift: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: bench_thrift PORT SERVER PROTOCOL BATCH BODY WARMUP SECONDS\n");
    return 2;
  }
  bench_run run;
  bench_parse(&run, "thrift-cpp", argv + 2);
  try {
    const char *tls_ca = std::getenv("BENCH_TLS_CA");
    std::shared_ptr<TSSLSocketFactory> tls;  // outlives the socket: it owns the SSL_CTX
    std::shared_ptr<TSocket> socket;
    if (tls_ca && *tls_ca) {
      tls = std::make_shared<TSSLSocketFactory>();
      tls->loadTrustedCertificates(tls_ca);
      tls->authenticate(true);
      socket = tls->createSocket("127.0.0.1", std::atoi(argv[1]));
    } else {
      socket = std::make_shared<TSocket>("127.0.0.1", std::atoi(argv[1]));
    }
    socket->setNoDelay(true);
    auto transport = std::make_shared<TFramedTransport>(socket);
    std::shared_ptr<TProtocol> protocol;
    if (std::string(run.protocol) == "compact")
      protocol = std::make_shared<TCompactProtocol>(transport);
    else
      protocol = std::make_shared<TBinaryProtocol>(transport);
    ThriftSourceProtocolClient client(protocol);
    transport->open();

    char *bodies = bench_bodies(run.batch, run.body);
    std::vector<ThriftFlumeEvent> events(run.batch);
    for (size_t e = 0; e < run.batch; e++) {
      for (int h = 0; h < BENCH_HEADER_COUNT; h++) events[e].headers[bench_header_keys[h]] = bench_header_values[h];
      events[e].body.assign(bodies + e * run.body, run.body);
    }
    std::free(bodies);
    Ctx ctx{&client, &events};
    int rc = bench_loop(&run, call, &ctx);
    transport->close();
    return rc;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "bench_thrift: %s\n", e.what());
    return 1;
  }
}
