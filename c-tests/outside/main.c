/* outside_c HOSTS: one event with flume_client.h; exits 0 when acknowledged. */
#include <stdio.h>
#include <string.h>

#include <flume_client.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  flume_client *client = flume_client_new(argv[1], NULL);
  if (!client) {
    fprintf(stderr, "outside_c: %s\n", flume_last_error());
    return 1;
  }
  flume_header headers[] = {{"from", "outside_c"}};
  flume_event event = {headers, 1, "outside C", strlen("outside C")};
  flume_result r = flume_client_append(client, &event);
  if (r != FLUME_OK) fprintf(stderr, "outside_c: %s\n", flume_last_error());
  char *metrics = flume_client_stats_prometheus(client);
  int ok = r == FLUME_OK && metrics && strstr(metrics, "\nflume_client_events_acked_total 1\n");
  flume_string_free(metrics);
  flume_client_free(client);
  printf("outside_c: %s (flume_client %s)\n", ok ? "ok" : "FAILED", flume_version());
  return ok ? 0 : 1;
}
