// outside_cpp HOSTS: one event with flume_client.hpp; exits 0 when acknowledged.
#include <flume_client.hpp>

#include <array>
#include <cstdio>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  try {
    flume::Client client(argv[1]);
    std::array<flume::Header, 1> headers{{{"from", "outside_cpp"}}};
    client.append({"outside C++", headers});
    bool ok = client.stats_prometheus().find("\nflume_client_events_acked_total 1\n") != std::string::npos;
    std::printf("outside_cpp: %s (flume_client %s, C++ %ld)\n", ok ? "ok" : "FAILED",
                std::string(flume::version()).c_str(), static_cast<long>(__cplusplus));
    return ok ? 0 : 1;
  } catch (const flume::Error& e) {
    std::fprintf(stderr, "outside_cpp: %s\n", e.what());
    return 1;
  }
}
