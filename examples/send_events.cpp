// send_events (C++): send a small batch of events to a Flume agent's Thrift
// source with flume_client.hpp, then one more event asynchronously.
//
//   send_events_cpp [HOSTS]        HOSTS defaults to 127.0.0.1:4141
//
// HOSTS is "host:port", or several separated by commas ("a1:4141,a2:4141").
// Exits 0 when the agent acknowledged every event, 1 otherwise.
//
// Build (C++17): in CMake, target_link_libraries(app PRIVATE FlumeClient::flume_client_cpp);
//   or c++ -std=c++17 send_events.cpp $(pkg-config --cflags --libs flume_client)
#include <flume_client.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::string hosts = argc > 1 ? argv[1] : "127.0.0.1:4141";
  try {
    // Settings use Flume's key names; the protocol must match the source's.
    flume::Config config;
    config.set("protocol", "compact").set("connect-timeout", "5000").set("request-timeout", "10000");

    // Reports of send() come on the client's sender thread; the callback may
    // capture state. It never runs after the client is destroyed.
    int acknowledged_async = 0;
    flume::BasicClient<std::string> client(hosts, config, [&](const flume::Delivery<std::string>& report) {
      if (report.ok())
        acknowledged_async++;
      else
        std::fprintf(stderr, "send_events: '%s' not delivered: %s\n", report.context.c_str(),
                     std::string(report.message).c_str());
    });

    // Headers and bodies are borrowed, not copied: keep them alive during the call.
    std::string host = "web-1";
    std::array<flume::Header, 2> headers{{{"host", host}, {"topic", "clicks"}}};
    std::vector<flume::Event> events{{"hello", headers}, {"flume", headers}};

    // Synchronous: acknowledged when it returns; on failure, flume::Error says
    // how many leading events were acknowledged and whether delivery is unknown.
    std::size_t delivered = client.append_batch(events);

    // Asynchronous: queued (copied) at once, reported later with its context.
    client.send({"from C++", headers}, std::string("the third event"));
    client.flush(std::chrono::seconds(10));  // throws flume::Error(FLUME_ERR_TIMEOUT) if it takes longer

    std::printf("send_events: %zu events delivered to %s, %d sent asynchronously (flume_client %s)\n",
                delivered, hosts.c_str(), acknowledged_async, std::string(flume::version()).c_str());
    return acknowledged_async == 1 ? 0 : 1;
  } catch (const flume::Error& e) {
    std::fprintf(stderr, "send_events: %s\n  %zu events acknowledged%s\n", e.what(), e.delivered(),
                 e.delivery_unknown() ? "; the failed call's events may have been delivered" : "");
    return 1;
  }
}
