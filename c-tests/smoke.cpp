// smoke_cpp: the C API from C++17, through a small RAII wrapper, with several
// threads sharing one client (a flume_client is thread-safe). Run through
// run_with_receiver.sh against a receiver answering OK.
#include <flume_client.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

[[noreturn]] void fail(const std::string &what) {
  std::fprintf(stderr, "smoke_cpp: %s\n", what.c_str());
  std::exit(1);
}

void check(bool ok, const char *what, int line) {
  if (!ok) fail("line " + std::to_string(line) + ": check failed: " + what);
}
#define CHECK(cond) check((cond), #cond, __LINE__)

// What a C++ user would write: owners for the two handles, results as exceptions.
class Error : public std::runtime_error {
 public:
  Error(flume_result code, const std::string &detail)
      : std::runtime_error(std::string(flume_result_str(code)) + ": " + detail), code_(code) {}
  flume_result code() const { return code_; }

 private:
  flume_result code_;
};

class Config {
 public:
  Config() : conf_(flume_config_new(), &flume_config_free) {}
  Config &set(const char *key, const char *value) {
    flume_result r = flume_config_set(conf_.get(), key, value);
    if (r != FLUME_OK) throw Error(r, flume_last_error());
    return *this;
  }
  const flume_config *get() const { return conf_.get(); }

 private:
  std::unique_ptr<flume_config, decltype(&flume_config_free)> conf_;
};

class Client {
 public:
  Client(const std::string &hosts, const Config &conf)
      : client_(flume_client_new(hosts.c_str(), conf.get()), &flume_client_free) {
    if (!client_) throw Error(FLUME_ERR_INVALID_ARG, flume_last_error());
  }
  void append(const flume_event &event) {
    flume_result r = flume_client_append(client_.get(), &event);
    if (r != FLUME_OK) throw Error(r, flume_last_error());
  }
  // Returns the number of events delivered; throws on failure.
  size_t append_batch(const std::vector<flume_event> &events) {
    size_t delivered = 0;
    flume_result r = flume_client_append_batch(client_.get(), events.data(), events.size(), &delivered);
    if (r != FLUME_OK) throw Error(r, flume_last_error());
    return delivered;
  }
  flume_result try_append(const flume_event *event) { return flume_client_append(client_.get(), event); }

 private:
  std::unique_ptr<flume_client, decltype(&flume_client_free)> client_;
};

const char *env(const char *name) {
  const char *v = std::getenv(name);
  if (v == nullptr || *v == '\0') fail(std::string(name) + " is not set: run through run_with_receiver.sh");
  return v;
}

// An event owning its strings.
struct OwnedEvent {
  std::vector<std::pair<std::string, std::string>> header_strings;
  std::vector<flume_header> headers;
  std::string body;

  OwnedEvent(int thread, int seq) : body("t" + std::to_string(thread) + "-" + std::to_string(seq)) {
    header_strings = {{"thread", std::to_string(thread)}, {"seq", std::to_string(seq)}};
    for (const auto &h : header_strings) headers.push_back(flume_header{h.first.c_str(), h.second.c_str()});
  }
  OwnedEvent(const OwnedEvent &) = delete;
  OwnedEvent &operator=(const OwnedEvent &) = delete;
  flume_event view() const { return flume_event{headers.data(), headers.size(), body.data(), body.size()}; }
  std::string json() const {
    return "{\"headers\":{\"thread\":\"" + header_strings[0].second + "\",\"seq\":\"" + header_strings[1].second +
           "\"},\"body\":\"" + body + "\"}";
  }
};

constexpr int kThreads = 4;
constexpr int kSingles = 10;    // appends per thread
constexpr int kBatches = 5;     // batches per thread
constexpr int kBatchSize = 8;   // events per batch
constexpr int kPerThread = kSingles + kBatches * kBatchSize;

}  // namespace

int main() {
  const std::string hosts = env("FLUME_TEST_HOSTS");
  const std::string output = env("FLUME_TEST_OUTPUT");

  CHECK(std::strcmp(flume_version(), FLUME_CLIENT_VERSION) == 0);
  CHECK(std::string(flume_last_error()).empty());

  // Exceptions from the wrapper carry the code and the detail.
  try {
    Config().set("batchSize", "10");
    fail("an unknown key was accepted");
  } catch (const Error &e) {
    CHECK(e.code() == FLUME_ERR_CONFIG);
    CHECK(std::string(e.what()).find("batchSize") != std::string::npos);
  }
  try {
    Client bad("no-port-here", Config());
    fail("a host without a port was accepted");
  } catch (const Error &e) {
    CHECK(std::string(e.what()).find("no-port-here") != std::string::npos);
  }

  Config conf;
  conf.set("batch-size", "3").set("request-timeout", "10000").set("connect-timeout", "5000");
  Client client(hosts, conf);

  // Several threads share the client; each also provokes an error of its own
  // and sees only its own detail in flume_last_error().
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&client, &errors, t] {
      try {
        CHECK(std::string(flume_last_error()).empty());
        int seq = 0;
        for (int i = 0; i < kSingles; i++) {
          OwnedEvent e(t, seq++);
          client.append(e.view());
        }
        for (int b = 0; b < kBatches; b++) {
          std::vector<std::unique_ptr<OwnedEvent>> owned;
          std::vector<flume_event> views;
          for (int i = 0; i < kBatchSize; i++) {
            owned.push_back(std::make_unique<OwnedEvent>(t, seq++));
            views.push_back(owned.back()->view());
          }
          size_t delivered = client.append_batch(views);
          CHECK(delivered == static_cast<size_t>(kBatchSize));
        }
        std::string key = "bad\xff" + std::to_string(t);
        flume_header h{key.c_str(), "v"};
        flume_event bad{&h, 1, nullptr, 0};
        CHECK(client.try_append(&bad) == FLUME_ERR_INVALID_ARG);
        errors[t] = flume_last_error();
      } catch (const std::exception &e) {
        errors[t] = std::string("exception: ") + e.what();
      }
    });
  }
  for (auto &th : threads) th.join();
  for (int t = 0; t < kThreads; t++) {
    if (errors[t].find("UTF-8") == std::string::npos) fail("thread " + std::to_string(t) + ": " + errors[t]);
  }
  // The main thread's detail is still its own last failure: the threads' did not touch it.
  CHECK(std::string(flume_last_error()).find("no-port-here") != std::string::npos);

  // The receiver got every event exactly once, each thread's in the order sent.
  std::ifstream in(output);
  CHECK(in.good());
  std::map<std::string, int> expected;  // JSON line -> (thread, seq) encoded as thread * 1000 + seq
  for (int t = 0; t < kThreads; t++)
    for (int s = 0; s < kPerThread; s++) expected[OwnedEvent(t, s).json()] = t * 1000 + s;
  std::vector<int> next_seq(kThreads, 0);
  std::string line;
  size_t lines = 0;
  while (std::getline(in, line)) {
    lines++;
    auto it = expected.find(line);
    if (it == expected.end()) fail("unexpected or repeated line from the receiver: " + line);
    int t = it->second / 1000, s = it->second % 1000;
    if (s != next_seq[t]) fail("thread " + std::to_string(t) + ": got seq " + std::to_string(s) + " before " +
                               std::to_string(next_seq[t]));
    next_seq[t]++;
    expected.erase(it);
  }
  if (!expected.empty()) fail(std::to_string(expected.size()) + " events missing, e.g. " + expected.begin()->first);
  std::printf("smoke_cpp: %d threads, %zu events delivered and checked\n", kThreads, lines);
  return 0;
}
