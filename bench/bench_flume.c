/*
 * bench_flume: the benchmark's C clients.
 *
 *   bench_flume flume PORT SERVER PROTOCOL BATCH BODY WARMUP SECONDS
 *     this library through its C API: flume_client_append for BATCH 1,
 *     flume_client_append_batch of BATCH events (batch-size BATCH) otherwise.
 *
 *   bench_flume send PORT SERVER PROTOCOL BATCH BODY WARMUP SECONDS
 *     this library's asynchronous path: BATCH flume_client_send calls a "call"
 *     (batch-size BATCH), into a queue of at most 4 batches with queue.full =
 *     block, so that in steady state send waits for the sender thread and
 *     events/s is what the asynchronous path delivers; flushed at the end.
 *
 *   bench_flume floor PORT FRAME_FILE SERVER PROTOCOL BATCH BODY WARMUP SECONDS
 *     the wire's own limit: the call in FRAME_FILE (encoded once in advance by
 *     bench/src/bin/make_frames.rs) written and its reply read, over and over,
 *     with plain blocking send/recv: nothing encoded, nothing checked.
 *
 * SERVER is a label for the output. Prints one JSON line (bench_common.h).
 * With BENCH_IN_FLIGHT set, send mode sets queue.max-in-flight to it (calls
 * pipelined on one connection). With BENCH_BORROWED=1, send mode uses
 * flume_client_send_borrowed() (bodies of 1 KiB or more not copied: the
 * bodies stay unchanged for the whole run), with a delivery callback that
 * does nothing, which it needs.
 *
 * BENCH_HEADERS says where the events' headers are: "shared" (the default) one
 * flume_header array for all events, as a program that builds its headers once
 * has (the library encodes them once per call and copies the bytes); "own"
 * an array of each event's own, pointing to the same strings; "copied" each
 * event's own array and its own copies of the strings (nothing shared).
 *
 * With BENCH_TLS_CA set (a PEM CA file), the library's client connects with TLS
 * (ssl=true, truststore=$BENCH_TLS_CA): the TLS column, against nullsink --tls.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <flume_client.h>

#include "bench_common.h"

/* ---- this library -------------------------------------------------------- */

struct flume_ctx {
  flume_client *client;
  flume_event *events;
  size_t count;
};

static int borrowed;

static void ignore_report(void *opaque, flume_result result, const char *message, void *user) {
  (void)opaque, (void)result, (void)message, (void)user;
}

static int flume_send_call(void *p) {
  struct flume_ctx *c = (struct flume_ctx *)p;
  for (size_t i = 0; i < c->count; i++) {
    flume_result r = borrowed ? flume_client_send_borrowed(c->client, &c->events[i], NULL)
                              : flume_client_send(c->client, &c->events[i], NULL);
    if (r != FLUME_OK) {
      fprintf(stderr, "bench_flume: send: %s: %s\n", flume_result_str(r), flume_last_error());
      return 1;
    }
  }
  return 0;
}

static int flume_call(void *p) {
  struct flume_ctx *c = (struct flume_ctx *)p;
  flume_result r;
  size_t delivered = 0;
  if (c->count == 1)
    r = flume_client_append(c->client, &c->events[0]);
  else
    r = flume_client_append_batch(c->client, c->events, c->count, &delivered);
  if (r != FLUME_OK) {
    fprintf(stderr, "bench_flume: %s: %s\n", flume_result_str(r), flume_last_error());
    return 1;
  }
  return 0;
}

static int run_flume(const char *port, struct bench_run *run, int asynchronous) {
  char hosts[64], batch[32], queue[32];
  snprintf(hosts, sizeof hosts, "127.0.0.1:%s", port);
  snprintf(batch, sizeof batch, "%zu", run->batch);
  snprintf(queue, sizeof queue, "%zu", 4 * run->batch);
  flume_config *conf = flume_config_new();
  if (flume_config_set(conf, "protocol", run->protocol) != FLUME_OK ||
      flume_config_set(conf, "batch-size", batch) != FLUME_OK ||
      flume_config_set(conf, "request-timeout", "60000") != FLUME_OK ||
      (asynchronous && (flume_config_set(conf, "queue.max-events", queue) != FLUME_OK ||
                        flume_config_set(conf, "queue.max-bytes", "1000000000") != FLUME_OK ||
                        flume_config_set(conf, "queue.full", "block") != FLUME_OK ||
                        flume_config_set(conf, "queue.block-timeout", "60000") != FLUME_OK))) {
    fprintf(stderr, "bench_flume: config: %s\n", flume_last_error());
    return 1;
  }
  const char *in_flight = getenv("BENCH_IN_FLIGHT");
  if (asynchronous && in_flight && *in_flight && flume_config_set(conf, "queue.max-in-flight", in_flight) != FLUME_OK) {
    fprintf(stderr, "bench_flume: config: %s\n", flume_last_error());
    return 1;
  }
  const char *borrow = getenv("BENCH_BORROWED");
  borrowed = asynchronous && borrow && strcmp(borrow, "1") == 0;
  if (borrowed && flume_config_set_delivery_cb(conf, ignore_report, NULL) != FLUME_OK) {
    fprintf(stderr, "bench_flume: config: %s\n", flume_last_error());
    return 1;
  }
  const char *tls_ca = getenv("BENCH_TLS_CA");
  if (tls_ca && *tls_ca &&
      (flume_config_set(conf, "ssl", "true") != FLUME_OK || flume_config_set(conf, "truststore", tls_ca) != FLUME_OK)) {
    fprintf(stderr, "bench_flume: TLS config (is the library built with TLS?): %s\n", flume_last_error());
    return 1;
  }
  flume_client *client = flume_client_new(hosts, conf);
  flume_config_free(conf);
  if (!client) {
    fprintf(stderr, "bench_flume: %s\n", flume_last_error());
    return 1;
  }
  const char *where = getenv("BENCH_HEADERS");
  int own = where && strcmp(where, "own") == 0, copied = where && strcmp(where, "copied") == 0;
  if (where && !own && !copied && strcmp(where, "shared") != 0) {
    fprintf(stderr, "bench_flume: BENCH_HEADERS is shared, own or copied, not %s\n", where);
    return 1;
  }
  size_t arrays = own || copied ? run->batch : 1;
  flume_header *headers = (flume_header *)calloc(arrays * BENCH_HEADER_COUNT, sizeof *headers);
  for (size_t h = 0; h < arrays * BENCH_HEADER_COUNT; h++) {
    const char *key = bench_header_keys[h % BENCH_HEADER_COUNT];
    const char *value = bench_header_values[h % BENCH_HEADER_COUNT];
    headers[h].key = copied ? strdup(key) : key;
    headers[h].value = copied ? strdup(value) : value;
  }
  char *bodies = bench_bodies(run->batch, run->body);
  flume_event *events = (flume_event *)calloc(run->batch, sizeof *events);
  for (size_t e = 0; e < run->batch; e++) {
    events[e].headers = headers + e % arrays * BENCH_HEADER_COUNT;
    events[e].header_count = BENCH_HEADER_COUNT;
    events[e].body = bodies + e * run->body;
    events[e].body_len = run->body;
  }
  struct flume_ctx ctx = {client, events, run->batch};
  int rc = bench_loop(run, asynchronous ? flume_send_call : flume_call, &ctx);
  if (asynchronous && rc == 0 && flume_client_flush(client, 60000) != FLUME_OK) {
    fprintf(stderr, "bench_flume: flush: %s\n", flume_last_error());
    rc = 1;
  }
  flume_client_free(client);
  if (copied)
    for (size_t h = 0; h < arrays * BENCH_HEADER_COUNT; h++) {
      free((void *)headers[h].key);
      free((void *)headers[h].value);
    }
  free(headers);
  free(events);
  free(bodies);
  return rc;
}

/* ---- the floor ------------------------------------------------------------ */

struct floor_ctx {
  int fd;
  const char *frame;
  size_t frame_len;
};

static int floor_call(void *p) {
  struct floor_ctx *c = (struct floor_ctx *)p;
  for (size_t sent = 0; sent < c->frame_len;) {
    ssize_t n = send(c->fd, c->frame + sent, c->frame_len - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      perror("bench_flume floor: send");
      return 1;
    }
    sent += (size_t)n;
  }
  unsigned char reply[256];
  size_t have = 0, want = 4;
  while (have < want) {
    ssize_t n = recv(c->fd, reply + have, sizeof reply - have, 0);
    if (n <= 0) {
      perror("bench_flume floor: recv");
      return 1;
    }
    have += (size_t)n;
    if (want == 4 && have >= 4) {
      want = 4 + ((size_t)reply[0] << 24 | (size_t)reply[1] << 16 | (size_t)reply[2] << 8 | reply[3]);
      if (want > sizeof reply) {
        fprintf(stderr, "bench_flume floor: reply of %zu bytes\n", want);
        return 1;
      }
    }
  }
  return 0;
}

static int run_floor(const char *port, const char *frame_file, struct bench_run *run) {
  FILE *f = fopen(frame_file, "rb");
  if (!f) {
    perror(frame_file);
    return 1;
  }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *frame = (char *)malloc((size_t)len);
  if (fread(frame, 1, (size_t)len, f) != (size_t)len) {
    perror(frame_file);
    return 1;
  }
  fclose(f);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)atoi(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    perror("bench_flume floor: connect");
    return 1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct floor_ctx ctx = {fd, frame, (size_t)len};
  int rc = bench_loop(run, floor_call, &ctx);
  close(fd);
  free(frame);
  return rc;
}

int main(int argc, char **argv) {
  struct bench_run run;
  if (argc == 9 && strcmp(argv[1], "flume") == 0) {
    bench_parse(&run, "flume", argv + 3);
    return run_flume(argv[2], &run, 0);
  }
  if (argc == 9 && strcmp(argv[1], "send") == 0) {
    bench_parse(&run, "flume-send", argv + 3);
    return run_flume(argv[2], &run, 1);
  }
  if (argc == 10 && strcmp(argv[1], "floor") == 0) {
    bench_parse(&run, "floor", argv + 4);
    return run_floor(argv[2], argv[3], &run);
  }
  fprintf(stderr,
          "usage: bench_flume flume PORT SERVER PROTOCOL BATCH BODY WARMUP SECONDS\n"
          "       bench_flume send PORT SERVER PROTOCOL BATCH BODY WARMUP SECONDS\n"
          "       bench_flume floor PORT FRAME_FILE SERVER PROTOCOL BATCH BODY WARMUP SECONDS\n");
  return 2;
}
