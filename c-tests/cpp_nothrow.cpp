// flume_client.hpp compiled with -fno-exceptions: only the std::nothrow
// overloads exist, and they report every failure in their flume::Result.
// Run against the receiver of run_with_receiver.sh.
#include <flume_client.hpp>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

#if FLUME_CLIENT_HPP_EXCEPTIONS
#error "this test must be compiled with -fno-exceptions"
#endif

static int failures = 0;
#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                          \
    }                                                                      \
  } while (0)

int main() {
  const char* hosts = std::getenv("FLUME_TEST_HOSTS");
  if (!hosts) {
    std::fprintf(stderr, "FAIL: FLUME_TEST_HOSTS is not set (run through run_with_receiver.sh)\n");
    return 1;
  }
  flume::Config config;
  CHECK(config.set(std::nothrow, "request-timeout", "5000").ok());
  flume::Result bad = config.set(std::nothrow, "no-such-key", "1");
  CHECK(bad.code == FLUME_ERR_CONFIG && bad.message.find("no-such-key") != std::string::npos);

  flume::Result error;
  std::optional<flume::Client> none = flume::Client::create(std::nothrow, "bad host", config, error);
  CHECK(!none && error.code == FLUME_ERR_INVALID_ARG && !error.message.empty());

  std::atomic<int> reports{0};
  std::optional<flume::Client> client = flume::Client::create(
      std::nothrow, hosts, config, [&](const flume::Delivery<void>& d) { reports += d.ok(); }, error);
  CHECK(client && error.ok());
  if (!client) return 1;

  std::array<flume::Header, 1> headers{{{"mode", "nothrow"}}};
  CHECK(client->append(std::nothrow, {"one", headers}).ok());
  std::vector<flume::Event> events(10, flume::Event("batch", headers));
  flume::Result r = client->append_batch(std::nothrow, events);
  CHECK(r.ok() && r.delivered == 10);
  CHECK(client->send(std::nothrow, flume::Event("queued")).ok());
  CHECK(client->flush(std::nothrow, std::chrono::seconds(10)).ok());
  CHECK(reports == 1);
  std::string bad_utf8 = "\xc3";
  std::array<flume::Header, 1> invalid{{{"k", bad_utf8}}};
  flume::Result ir = client->append(std::nothrow, {"x", invalid});
  CHECK(ir.code == FLUME_ERR_INVALID_ARG && !ir.delivery_unknown());
  CHECK(client->stats_json().find("\"events_acked\":12") != std::string::npos);

  // send_borrowed: a body of 4 KiB owned by its context, back in the report.
  std::atomic<std::size_t> borrowed_bytes{0};
  std::optional<flume::BasicClient<std::vector<char>>> owner = flume::BasicClient<std::vector<char>>::create(
      std::nothrow, hosts, config,
      [&](const flume::Delivery<std::vector<char>>& d) { borrowed_bytes += d.ok() ? d.context.size() : 0; }, error);
  CHECK(owner && error.ok());
  if (!owner) return 1;
  CHECK(owner->send_borrowed(std::nothrow, std::vector<char>(4096, 'v'), headers).ok());
  CHECK(owner->flush(std::nothrow, std::chrono::seconds(10)).ok());
  CHECK(borrowed_bytes == 4096);

  flume::Client moved = std::move(*client);
  CHECK(!*client && client->append(std::nothrow, flume::Event("x")).code == FLUME_ERR_INVALID_ARG);
  CHECK(client->stats_json().empty());
  if (failures) {
    std::fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  std::printf("cpp_nothrow: all checks passed\n");
  return 0;
}
