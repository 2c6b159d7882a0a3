// The C++17 half of the consumer: the same header from C++, with RAII.
#include <flume_client.h>

#include <cstdio>
#include <memory>
#include <string_view>

extern "C" int send_from_cpp(const char *hosts);

int send_from_cpp(const char *hosts) {
  std::unique_ptr<flume_client, decltype(&flume_client_free)> client(flume_client_new(hosts, nullptr),
                                                                     &flume_client_free);
  if (!client) {
    std::fprintf(stderr, "flume_client_new: %s\n", flume_last_error());
    return 1;
  }
  constexpr std::string_view body = "three";
  flume_header headers[] = {{"from", "cpp"}, {"kind", CONSUMER_KIND}};
  flume_event event{headers, 2, body.data(), body.size()};
  if (flume_result r = flume_client_append(client.get(), &event); r != FLUME_OK) {
    std::fprintf(stderr, "append: %s: %s\n", flume_result_str(r), flume_last_error());
    return 1;
  }
  return 0;
}
