// The package's C++ API, offline: version, an unreachable agent, statistics.
#include <flume_client.hpp>

#include <cstdio>
#include <string>

int main() {
  if (flume::version() != EXPECTED_VERSION) {
    std::fprintf(stderr, "test_cpp: library %s, package %s\n", std::string(flume::version()).c_str(), EXPECTED_VERSION);
    return 1;
  }
  flume::Config config;
  config.set("connect-timeout", "2000");
  flume::Client client("127.0.0.1:1", config);  // port 1: nothing listens
  try {
    client.append(flume::Event("hello"));
    std::fprintf(stderr, "test_cpp: append to a closed port succeeded\n");
    return 1;
  } catch (const flume::Error& e) {
    if (e.code() != FLUME_ERR_CONNECT) {
      std::fprintf(stderr, "test_cpp: expected FLUME_ERR_CONNECT, got %s\n", e.what());
      return 1;
    }
  }
  std::string metrics = client.stats_prometheus();
  if (metrics.find("flume_client_call_failures_total{code=\"FLUME_ERR_CONNECT\"} 1") == std::string::npos) {
    std::fprintf(stderr, "test_cpp: the failure is not counted:\n%s", metrics.c_str());
    return 1;
  }
  std::printf("test_cpp: flume-client %s works (C++ %ld)\n", std::string(flume::version()).c_str(),
              static_cast<long>(__cplusplus));
  return 0;
}
