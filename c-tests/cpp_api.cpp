// Tests of include/flume_client.hpp against the receiver of run_with_receiver.sh.
//
//   cpp_api ok         every part of the C++ API against a receiver answering OK
//   cpp_api failed     the receiver answers FAILED: errors, delivered counts, reports
//   cpp_api prometheus sends a few events, then prints stats_prometheus() on stdout
//
// Built as C++17 and C++20 with -Wall -Wextra -Werror, and run plain, under
// valgrind and with ASan/UBSan: every path (exceptions included) must free
// what it made. Each check prints what it checked; any failure exits 1.
#include <flume_client.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

int failures = 0;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);   \
      failures++;                                                            \
    }                                                                        \
  } while (0)

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) {
    std::fprintf(stderr, "FAIL: %s is not set (run through run_with_receiver.sh)\n", name);
    std::exit(1);
  }
  return v;
}

// Lines the receiver wrote (one JSON event a line).
std::vector<std::string> received() {
  std::ifstream in(env("FLUME_TEST_OUTPUT"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Waits (bounded) for the receiver to have written `n` lines.
std::vector<std::string> received_at_least(std::size_t n) {
  for (int i = 0; i < 100; i++) {
    auto lines = received();
    if (lines.size() >= n) return lines;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return received();
}

// Calls f, which must throw flume::Error with `code`; returns the error's message.
template <class F>
std::string expect_error(flume::Code code, F&& f) {
  try {
    f();
  } catch (const flume::Error& e) {
    if (e.code() != code)
      std::fprintf(stderr, "FAIL: expected %s, got %s (%s)\n", std::string(flume::result_name(code)).c_str(),
                   std::string(flume::result_name(e.code())).c_str(), e.what());
    CHECK(e.code() == code);
    CHECK(std::string(e.what()).rfind(std::string(flume::result_name(code)), 0) == 0);
    CHECK(!e.message().empty());
    return e.what();
  }
  std::fprintf(stderr, "FAIL: expected %s, nothing thrown\n", std::string(flume::result_name(code)).c_str());
  failures++;
  return "";
}

// A context type that counts its live instances: every context given to send()
// must be destroyed exactly once, whatever happens to its event.
struct Tracked {
  static std::atomic<int> alive;
  int id;
  explicit Tracked(int i) : id(i) { alive++; }
  Tracked(Tracked&& o) noexcept : id(o.id) { alive++; }
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked() { alive--; }
};
std::atomic<int> Tracked::alive{0};

// A body owner for send_borrowed(): bytes it owns, and a count of those alive.
struct TrackedBody {
  static std::atomic<int> alive;
  std::string bytes;
  explicit TrackedBody(std::string b) : bytes(std::move(b)) { alive++; }
  TrackedBody(TrackedBody&& o) noexcept : bytes(std::move(o.bytes)) { alive++; }
  TrackedBody(const TrackedBody&) = delete;
  TrackedBody& operator=(const TrackedBody&) = delete;
  ~TrackedBody() { alive--; }
  const char* data() const noexcept { return bytes.data(); }
  std::size_t size() const noexcept { return bytes.size(); }
};
std::atomic<int> TrackedBody::alive{0};
static_assert(flume::detail::owns_bytes<std::string>::value && flume::detail::owns_bytes<std::vector<char>>::value &&
                  flume::detail::owns_bytes<TrackedBody>::value,
              "owners of bytes can carry borrowed bodies");
static_assert(!flume::detail::owns_bytes<std::string_view>::value && !flume::detail::owns_bytes<std::vector<int>>::value,
              "views and ranges of wider elements cannot");

flume::Config fast_config() {
  flume::Config config;
  config.set("connect-timeout", "2000").set("request-timeout", "5000").set("linger-ms", "1");
  return config;
}

void test_bad_input(const std::string& hosts) {
  // Config: unknown key, bad value, bad properties text.
  flume::Config config;
  std::string msg = expect_error(FLUME_ERR_CONFIG, [&] { config.set("no-such-key", "1"); });
  CHECK(msg.find("no-such-key") != std::string::npos);
  expect_error(FLUME_ERR_CONFIG, [&] { config.set("batch-size", "0"); });
  expect_error(FLUME_ERR_CONFIG, [&] { config.load_properties_str("batch-size = many\n"); });
  // A file that cannot be read is FLUME_ERR_INVALID_ARG (the path is the bad argument).
  expect_error(FLUME_ERR_INVALID_ARG, [&] { config.load_properties("/nonexistent/client.properties"); });
  flume::Result r = config.set(std::nothrow, "batch-size", "-5");
  CHECK(!r && r.code == FLUME_ERR_CONFIG && !r.message.empty() && !r.delivery_unknown());
  CHECK(config.set(std::nothrow, "batch-size", "10").ok());

  // Hosts.
  expect_error(FLUME_ERR_INVALID_ARG, [&] { flume::Client c("not a host list", config); });
  expect_error(FLUME_ERR_INVALID_ARG, [&] { flume::Client c("127.0.0.1:0"); });
  expect_error(FLUME_ERR_INVALID_ARG, [&] { flume::Client c("::1:4141"); });
  flume::Result err;
  auto none = flume::Client::create(std::nothrow, "host:99999", config, err);
  CHECK(!none && err.code == FLUME_ERR_INVALID_ARG && !err.message.empty());
  // A callback given to a client that cannot be made is destroyed with it.
  auto held = std::make_shared<int>(7);
  {
    std::weak_ptr<int> watch = held;
    expect_error(FLUME_ERR_INVALID_ARG, [&] {
      flume::Client c("bad:port", config, [keep = std::move(held)](const flume::Delivery<void>&) { (void)keep; });
    });
    CHECK(watch.expired());
  }

  // Events: invalid UTF-8 header, too large, a NULL header key.
  flume::Client client(hosts, config);
  std::string bad_utf8 = "\xff\xfe";
  std::array<flume::Header, 1> bad{{{"key", bad_utf8}}};
  expect_error(FLUME_ERR_INVALID_ARG, [&] { client.append({"body", bad}); });
  std::array<flume::Header, 1> null_key{{{static_cast<const char*>(nullptr), "v"}}};
  expect_error(FLUME_ERR_INVALID_ARG, [&] { client.append({"body", null_key}); });
  flume::Config small = fast_config();
  small.set("max-frame-size", "64");
  flume::Client small_client(hosts, small);
  std::string big(1000, 'x');
  expect_error(FLUME_ERR_TOO_LARGE, [&] { small_client.append(flume::Event(big)); });
  std::vector<flume::Event> batch{flume::Event("ok"), flume::Event("also ok"), flume::Event(big)};
  // The whole batch is checked before anything is sent: nothing delivered.
  try {
    small_client.append_batch(batch);
    CHECK(!"append_batch with a too-large event succeeded");
  } catch (const flume::Error& e) {
    CHECK(e.code() == FLUME_ERR_TOO_LARGE && e.delivered() == 0 && !e.delivery_unknown());
  }
  flume::Result br = small_client.append_batch(std::nothrow, batch);
  CHECK(br.code == FLUME_ERR_TOO_LARGE && br.delivered == 0);
  // send() refusing an event destroys its context at once: no report follows.
  {
    flume::BasicClient<Tracked> tracked(hosts, small, [](const flume::Delivery<Tracked>&) {});
    expect_error(FLUME_ERR_TOO_LARGE, [&] { tracked.send(flume::Event(big), Tracked(1)); });
    CHECK(Tracked::alive == 0);
    flume::Result sr = tracked.send(std::nothrow, {"body", bad}, Tracked(2));
    CHECK(sr.code == FLUME_ERR_INVALID_ARG && Tracked::alive == 0);
  }
  std::printf("ok: bad input gives flume::Error with the right code\n");
}

void test_connect_failure() {
  // Port 1 (tcpmux) is closed on any test machine.
  flume::Client client("127.0.0.1:1", fast_config());
  expect_error(FLUME_ERR_CONNECT, [&] { client.append(flume::Event("x")); });
  std::array<flume::Event, 2> events{flume::Event("a"), flume::Event("b")};
  flume::Result r = client.append_batch(std::nothrow, events);
  CHECK(r.code == FLUME_ERR_CONNECT && r.delivered == 0 && !r.delivery_unknown());
  CHECK(r.message.find("FLUME_ERR_CONNECT") == 0);
  std::printf("ok: an unreachable agent gives FLUME_ERR_CONNECT (%s)\n", r.message.c_str());
}

void test_ok(const std::string& hosts) {
  std::size_t expected = 0;
  {
    // Headers from literals and std::string, bodies from string_view: no copies.
    std::string host = "web-1";
    std::array<flume::Header, 2> headers{{{"host", host}, {"topic", "clicks"}}};
    flume::Client client(hosts, fast_config());
    client.append({"one", headers});
    expected++;

    std::vector<flume::Event> vec;
    for (int i = 0; i < 250; i++) vec.emplace_back(std::string_view("batch"), headers);
    CHECK(client.append_batch(vec) == 250);
    expected += 250;
    flume::Event c_array[] = {flume::Event("c1"), flume::Event("c2")};
    CHECK(client.append_batch(c_array) == 2);
    expected += 2;
    std::vector<flume_event> raw{flume::Event("raw").c_event()};
    flume::Result rr = client.append_batch(std::nothrow, raw);
    CHECK(rr.ok() && rr.delivered == 1 && rr.message.empty());
    expected++;
    std::vector<flume::Event> empty;
    CHECK(client.append_batch(empty) == 0);
    CHECK(client.append(std::nothrow, flume::Event("nothrow")).ok());
    expected++;
    client.append("from a C string");  // implicit flume::Event
    client.append(std::string("from a temporary std::string"));  // alive until the call returns
    expected += 2;
    std::string binary("\0\x01\x02", 3);
    client.append(flume::Event(binary.data(), binary.size()));
    expected++;

    // Statistics.
    std::string json = client.stats_json();
    CHECK(json.find("\"events_acked\":" + std::to_string(expected)) != std::string::npos);
    std::string prom = client.stats_prometheus();
    CHECK(prom.find("flume_client_events_acked_total " + std::to_string(expected) + "\n") != std::string::npos);
    CHECK(prom.find("# TYPE flume_client_call_duration_seconds histogram") != std::string::npos);
  }
  CHECK(received_at_least(expected).size() == expected);
  std::printf("ok: append and append_batch over vector, array, C array and flume_event ranges (%zu events)\n", expected);

  // A callback capturing state (by reference, and a move-only capture), and
  // contexts of the caller's type: each reported once, then destroyed.
  {
    std::mutex m;
    std::vector<int> ok_ids;
    int failed = 0;
    auto owned = std::make_unique<int>(1);
    {
      flume::BasicClient<Tracked> client(hosts, fast_config(),
                                         [&, owned = std::move(owned)](const flume::Delivery<Tracked>& d) {
                                           std::lock_guard<std::mutex> lock(m);
                                           if (d.ok())
                                             ok_ids.push_back(d.context.id + *owned - 1);
                                           else
                                             failed++;
                                         });
      for (int i = 0; i < 100; i++) client.send(flume::Event("async"), Tracked(i));
      client.flush(std::chrono::seconds(10));
      std::lock_guard<std::mutex> lock(m);
      CHECK(ok_ids.size() == 100 && failed == 0);
      for (int i = 0; i < 100 && i < static_cast<int>(ok_ids.size()); i++) CHECK(ok_ids[i] == i);
    }
    CHECK(Tracked::alive == 0);
    expected += 100;
  }
  // Contexts that fit in a pointer (a pointer here) travel without allocation.
  {
    std::atomic<int> sum{0};
    int values[3] = {1, 2, 3};
    flume::BasicClient<int*> client(hosts, fast_config(), [&](const flume::Delivery<int*>& d) {
      if (d.ok()) sum += *d.context;
    });
    for (int& v : values) client.send(flume::Event("ptr"), &v);
    CHECK(client.flush(std::nothrow, std::chrono::seconds(10)).ok());
    CHECK(sum == 6);
    expected += 3;
  }
  // A std::function callback, and a client without one.
  {
    std::atomic<int> reports{0};
    std::function<void(const flume::Delivery<void>&)> cb = [&](const flume::Delivery<void>& d) {
      if (d.ok() && d.message.empty()) reports++;
    };
    flume::Client client(hosts, fast_config(), cb);
    client.send(flume::Event("fn"));
    CHECK(client.send(std::nothrow, flume::Event("fn")).ok());
    client.flush(std::chrono::seconds(10));
    CHECK(reports == 2);
    flume::Client quiet(hosts, fast_config());
    quiet.send(flume::Event("quiet"));
    quiet.flush(std::chrono::seconds(10));
    expected += 3;
  }
  CHECK(received_at_least(expected).size() == expected);
  std::printf("ok: send with contexts of the caller's type; callbacks capturing state\n");

  // send_borrowed(): each body owned by its context, sent from it (the large
  // ones without a copy: valgrind and ASan would see a read after the
  // report), and handed back in its report, in send order; a refused one
  // destroyed at once.
  {
    std::mutex m;
    std::vector<std::string> reported;
    {
      flume::BasicClient<TrackedBody> client(hosts, fast_config(), [&](const flume::Delivery<TrackedBody>& d) {
        std::lock_guard<std::mutex> lock(m);
        if (d.ok()) reported.push_back(d.context.bytes);
      });
      std::array<flume::Header, 1> headers{{{"kind", "borrowed"}}};
      for (int i = 0; i < 40; i++) {
        std::string bytes = "borrowed-" + std::to_string(100 + i) + std::string(i % 2 ? 4096 : 10, 'b');
        client.send_borrowed(TrackedBody(std::move(bytes)), headers);
      }
      CHECK(client.send_borrowed(std::nothrow, TrackedBody(std::string(2000, 'n'))).ok());
      client.flush(std::chrono::seconds(10));
      flume::BasicClient<TrackedBody> moved(std::move(client));
      CHECK(client.send_borrowed(std::nothrow, TrackedBody(std::string(2000, 'r'))).code == FLUME_ERR_INVALID_ARG);
      CHECK(TrackedBody::alive == 0);
      std::lock_guard<std::mutex> lock(m);
      CHECK(reported.size() == 41);
      for (int i = 0; i < 40 && i < static_cast<int>(reported.size()); i++)
        CHECK(reported[i] == "borrowed-" + std::to_string(100 + i) + std::string(i % 2 ? 4096 : 10, 'b'));
    }
    expected += 41;
    std::vector<std::string> lines = received_at_least(expected);
    CHECK(lines.size() == expected);
    std::size_t large = 0;
    for (const std::string& line : lines)
      large += line.find("\"borrowed-1") != std::string::npos && line.find(std::string(4096, 'b')) != std::string::npos;
    CHECK(large == 20);
  }
  std::printf("ok: send_borrowed with bodies owned by their contexts\n");

  // The destructor flushes queued events, and the callback never runs after it returns.
  {
    auto reports = std::make_shared<std::atomic<int>>(0);
    std::weak_ptr<std::atomic<int>> watch = reports;
    {
      flume::Client client(hosts, fast_config(), [reports](const flume::Delivery<void>&) { (*reports)++; });
      for (int i = 0; i < 50; i++) client.send(flume::Event("dtor"));
    }
    CHECK(reports.use_count() == 1);  // the client's copy went with the client
    CHECK(*reports == 50);
    reports.reset();
    CHECK(watch.expired());
    expected += 50;
  }
  // Moves: construction, assignment (the old client is freed first, with its
  // reports), moved-from clients failing cleanly.
  {
    std::atomic<int> first{0}, second{0};
    flume::Client a(hosts, fast_config(), [&](const flume::Delivery<void>&) { first++; });
    flume::Client b(std::move(a));
    CHECK(!a && b);
    expect_error(FLUME_ERR_INVALID_ARG, [&] { a.append(flume::Event("moved")); });
    expect_error(FLUME_ERR_INVALID_ARG, [&] { a.stats_json(); });
    CHECK(a.send(std::nothrow, flume::Event("moved")).code == FLUME_ERR_INVALID_ARG);
    for (int i = 0; i < 10; i++) b.send(flume::Event("move"));
    flume::Client c(hosts, fast_config(), [&](const flume::Delivery<void>&) { second++; });
    b = std::move(c);  // frees b's client: its 10 reports come before this returns
    CHECK(first == 10);
    b.send(flume::Event("move"));
    b.flush(std::chrono::seconds(10));
    CHECK(second == 1);
    flume::Result made_result;
    std::optional<flume::Client> made = flume::Client::create(
        std::nothrow, hosts, fast_config(), [&](const flume::Delivery<void>&) { second++; }, made_result);
    CHECK(made && *made && made_result.ok());
    flume::Client d = std::move(*made);
    d.append(flume::Event("made"));
    expected += 12;
  }
  // RAII on the exception path: a client and its queued contexts are freed
  // while an exception unwinds through their scope.
  try {
    flume::BasicClient<Tracked> client(hosts, fast_config(), [](const flume::Delivery<Tracked>&) {});
    client.send(flume::Event("unwind"), Tracked(1));
    client.append(flume::Event("unwind"));
    throw std::runtime_error("leaving the scope");
  } catch (const std::runtime_error&) {
  }
  CHECK(Tracked::alive == 0);
  expected += 2;
  CHECK(received_at_least(expected).size() == expected);
  std::printf("ok: destructor flushes, moves, RAII through exceptions (%zu events in all)\n", expected);
}

void test_failed(const std::string& hosts) {
  flume::Config config = fast_config();
  config.set("retries", "0");
  std::atomic<int> rejected{0};
  flume::Client client(hosts, config, [&](const flume::Delivery<void>& d) {
    if (d.code == FLUME_ERR_FAILED && !d.delivery_unknown() && !d.message.empty()) rejected++;
  });
  try {
    client.append(flume::Event("x"));
    CHECK(!"append succeeded against --reply failed");
  } catch (const flume::Error& e) {
    CHECK(e.code() == FLUME_ERR_FAILED && !e.delivery_unknown());
  }
  std::vector<flume::Event> batch(5, flume::Event("y"));
  flume::Result r = client.append_batch(std::nothrow, batch);
  CHECK(r.code == FLUME_ERR_FAILED && r.delivered == 0 && r.name() == "FLUME_ERR_FAILED");
  client.send(flume::Event("z"));
  client.flush(std::chrono::seconds(10));
  CHECK(rejected == 1);
  std::printf("ok: FAILED answers give FLUME_ERR_FAILED, delivery known (not delivered)\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "ok";
  std::string hosts = env("FLUME_TEST_HOSTS");
  try {
    if (mode == "ok") {
      test_bad_input(hosts);
      test_connect_failure();
      test_ok(hosts);
    } else if (mode == "failed") {
      test_failed(hosts);
    } else if (mode == "prometheus") {
      flume::Client client(hosts, fast_config());
      std::vector<flume::Event> events(7, flume::Event("metrics"));
      client.append_batch(events);
      client.append(flume::Event("one more"));
      client.send(flume::Event("queued"));
      client.flush(std::chrono::seconds(10));
      std::fputs(client.stats_prometheus().c_str(), stdout);
      return failures ? 1 : 0;
    } else {
      std::fprintf(stderr, "usage: cpp_api ok|failed|prometheus\n");
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAIL: unexpected exception: %s\n", e.what());
    return 1;
  }
  if (failures) {
    std::fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  std::printf("cpp_api %s: all checks passed (C++ %ld)\n", mode.c_str(), static_cast<long>(__cplusplus));
  return 0;
}
