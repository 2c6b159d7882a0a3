/*
 * send_events: send a small batch of events to a Flume agent's Thrift source.
 *
 *   send_events [HOSTS]        HOSTS defaults to 127.0.0.1:4141
 *
 * HOSTS is "host:port", or several separated by commas ("a1:4141,a2:4141");
 * the first that accepts a connection is used. Exits 0 when the agent
 * acknowledged every event, 1 otherwise.
 *
 * Build: cc send_events.c $(pkg-config --cflags --libs flume_client)
 *    or, in CMake: target_link_libraries(send_events PRIVATE FlumeClient::flume_client)
 */
#include <stdio.h>
#include <string.h>

#include <flume_client.h>

int main(int argc, char **argv) {
  const char *hosts = argc > 1 ? argv[1] : "127.0.0.1:4141";

  /* Settings use Flume's key names. The protocol must match the source's
   * `protocol` (compact is Flume's default). */
  flume_config *conf = flume_config_new();
  const char *settings[][2] = {
      {"protocol", "compact"},
      {"batch-size", "100"},
      {"connect-timeout", "5000"},  /* ms */
      {"request-timeout", "10000"}, /* ms */
  };
  for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
    if (flume_config_set(conf, settings[i][0], settings[i][1]) != FLUME_OK) {
      fprintf(stderr, "send_events: config: %s\n", flume_last_error());
      flume_config_free(conf);
      return 1;
    }
  }

  /* Creating a client does not connect; the first call does. */
  flume_client *client = flume_client_new(hosts, conf);
  flume_config_free(conf); /* the client keeps its own copy */
  if (client == NULL) {
    fprintf(stderr, "send_events: %s\n", flume_last_error());
    return 1;
  }

  /* Events: UTF-8 headers and a body of any bytes. The library only reads
   * them during the call, so stack memory is fine. */
  flume_header headers[] = {
      {"host", "web-1"},
      {"topic", "clicks"},
  };
  const char *bodies[] = {"hello", "flume", "from C"};
  enum { N = sizeof bodies / sizeof bodies[0] };
  flume_event events[N];
  for (size_t i = 0; i < N; i++) {
    events[i].headers = headers;
    events[i].header_count = sizeof headers / sizeof headers[0];
    events[i].body = bodies[i];
    events[i].body_len = strlen(bodies[i]);
  }

  /* `delivered` is the number of leading events the agent acknowledged, on
   * failure too: a caller that retries resends from there. */
  size_t delivered = 0;
  flume_result r = flume_client_append_batch(client, events, N, &delivered);
  if (r != FLUME_OK) {
    fprintf(stderr, "send_events: %s\n  %zu of %d events acknowledged; detail: %s\n",
            flume_result_str(r), delivered, N, flume_last_error());
    flume_client_free(client);
    return 1;
  }
  printf("send_events: %zu events delivered to %s (flume_client %s)\n", delivered, hosts, flume_version());

  flume_client_free(client);
  return 0;
}
