/*
 * flume_client.hpp: a C++17 interface to flume_client.h, header-only.
 *
 * It adds no dependency: it wraps the C functions of libflume_client (link
 * FlumeClient::flume_client_cpp in CMake, or pkg-config flume_client) and
 * uses the standard library only. Everything in it is inline; nothing of it is
 * part of the library's ABI.
 *
 *   #include <flume_client.hpp>
 *
 *   flume::Config config;
 *   config.set("batch-size", "500").set("request-timeout", "5000");
 *   flume::Client client("agent1:4141,agent2:4141", config);
 *
 *   std::string host = "web-1";
 *   std::array<flume::Header, 2> headers{{{"host", host}, {"topic", "clicks"}}};
 *   std::vector<flume::Event> events{{"hello", headers}, {"world", headers}};
 *   client.append_batch(events);          // throws flume::Error on failure
 *
 * What the C header says about each function (threads, blocking, delivery)
 * holds for its C++ counterpart named here; this header says what the C++
 * layer adds.
 *
 * Ownership: flume::Config and flume::Client own their C handle (move-only,
 * freed by their destructor). flume::Header and flume::Event only borrow the
 * memory they point at, as flume_header and flume_event do: keep the strings
 * and bodies alive during the call that sends them (send() copies the event,
 * append() and append_batch() read it only during the call).
 *
 * Errors: every failing call throws flume::Error (a std::runtime_error with
 * the result code, the library's detail message, whether delivery is unknown
 * and, for batches, how many leading events were acknowledged). Each such
 * function also has a non-throwing overload taking std::nothrow first, which
 * returns a flume::Result (code, message, delivered) marked [[nodiscard]].
 * Compiled without exceptions (-fno-exceptions), only the non-throwing
 * overloads exist. Memory exhaustion in the C++ layer (std::string,
 * std::bad_alloc) is not turned into a flume::Result.
 *
 * Threads: as in C. One flume::Client may be used by many threads at once
 * (const and non-const members alike, except moving and destroying it); a
 * flume::Config by one thread at a time.
 */
#ifndef FLUME_CLIENT_HPP
#define FLUME_CLIENT_HPP

#if !(__cplusplus >= 201703L || (defined(_MSVC_LANG) && _MSVC_LANG >= 201703L))
#error "flume_client.hpp needs C++17 or later (flume_client.h alone works from C++11)"
#endif

#include <flume_client.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define FLUME_CLIENT_HPP_EXCEPTIONS 1
#include <stdexcept>
#else
#define FLUME_CLIENT_HPP_EXCEPTIONS 0
#endif

namespace flume {

/** A result code: FLUME_OK or one of the FLUME_ERR_* values of flume_client.h. */
using Code = flume_result;

/**
 * Whether a failed call may still have delivered its events: FLUME_ERR_TIMEOUT,
 * FLUME_ERR_IO, FLUME_ERR_PROTOCOL and FLUME_ERR_INTERNAL. Resending after them
 * is at-least-once (possible duplicates); after any other code nothing was
 * delivered (nothing sent, or the source rejected the events).
 */
constexpr bool delivery_unknown(Code code) noexcept {
  return code == FLUME_ERR_TIMEOUT || code == FLUME_ERR_IO || code == FLUME_ERR_PROTOCOL ||
         code == FLUME_ERR_INTERNAL;
}

/** A fixed description of any code, e.g. "FLUME_ERR_CONNECT: no connection could be made; ...". */
inline std::string_view result_str(Code code) noexcept { return flume_result_str(code); }

/** The name of a code, e.g. "FLUME_ERR_CONNECT" ("unknown result code" for others). */
inline std::string_view result_name(Code code) noexcept {
  std::string_view s = flume_result_str(code);
  return s.substr(0, s.find(':'));
}

/** The detail of the most recent failure on this thread (flume_last_error()). */
inline std::string_view last_error() noexcept { return flume_last_error(); }

/** The version of the library running, e.g. "0.1.0" (FLUME_CLIENT_VERSION is the header's). */
inline std::string_view version() noexcept { return flume_version(); }

/**
 * What a non-throwing call returns: the code, the detail message (empty on
 * success) and, for batches, the number of leading events acknowledged (on
 * failure too, so a caller can resume after them).
 */
struct [[nodiscard]] Result {
  Code code = FLUME_OK;
  std::string message;
  std::size_t delivered = 0;

  bool ok() const noexcept { return code == FLUME_OK; }
  explicit operator bool() const noexcept { return ok(); }
  /** See flume::delivery_unknown(Code). */
  bool delivery_unknown() const noexcept { return flume::delivery_unknown(code); }
  /** The code's name, e.g. "FLUME_ERR_TIMEOUT". */
  std::string_view name() const noexcept { return result_name(code); }
};

namespace detail {
/** The code whose name starts `message` ("FLUME_ERR_CONFIG: ..."), as the library writes its messages. */
inline Code code_of_message(std::string_view message) noexcept {
  for (Code c = 1; c < 64; c++) {
    std::string_view name = result_name(c);
    if (name.rfind("FLUME_", 0) == 0 && message.size() > name.size() && message.substr(0, name.size()) == name &&
        message[name.size()] == ':')
      return c;
  }
  return FLUME_ERR_INVALID_ARG;
}

/** "NAME: message", unless the message already starts with the name. */
inline std::string describe(Code code, const std::string& message) {
  std::string_view name = result_name(code);
  if (message.size() > name.size() && message.compare(0, name.size(), name) == 0 && message[name.size()] == ':')
    return message;
  return std::string(name) + ": " + message;
}

/** A Result for `code`, with this thread's flume_last_error() when it failed. */
inline Result result(Code code, std::size_t delivered = 0) {
  Result r;
  r.code = code;
  r.delivered = delivered;
  if (code != FLUME_OK) r.message = flume_last_error();
  return r;
}
}  // namespace detail

#if FLUME_CLIENT_HPP_EXCEPTIONS
/**
 * A failed call. what() is the library's message, which starts with the code's
 * name (e.g. "FLUME_ERR_CONNECT: 127.0.0.1:1: ..."); code(), message() (the
 * same text, from flume_last_error()), delivered()
 * (leading events of a batch acknowledged before the failure) and
 * delivery_unknown() say the rest.
 */
class Error : public std::runtime_error {
 public:
  Error(Code code, std::string message, std::size_t delivered = 0)
      : std::runtime_error(detail::describe(code, message)),
        code_(code),
        message_(std::move(message)),
        delivered_(delivered) {}
  explicit Error(Result result) : Error(result.code, std::move(result.message), result.delivered) {}

  Code code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  std::size_t delivered() const noexcept { return delivered_; }
  bool delivery_unknown() const noexcept { return flume::delivery_unknown(code_); }

 private:
  Code code_;
  std::string message_;
  std::size_t delivered_;
};

namespace detail {
inline void check(Result&& r) {
  if (!r.ok()) throw Error(std::move(r));
}
}  // namespace detail
#endif

/**
 * A borrowed NUL-terminated string: what flume_header needs. Made from a
 * `const char*` or a `const std::string&` (never from a temporary std::string,
 * which would be gone before the event is sent, nor from std::string_view,
 * which need not end with NUL).
 */
class CStr {
 public:
  constexpr CStr(const char* s) noexcept : s_(s) {}  // NOLINT: implicit by design
  CStr(const std::string& s) noexcept : s_(s.c_str()) {}  // NOLINT
  CStr(std::string&&) = delete;
  CStr(std::string_view) = delete;
  constexpr const char* c_str() const noexcept { return s_; }

 private:
  const char* s_;
};

/**
 * One header: a key and a value, each NUL-terminated UTF-8, borrowed (not
 * copied). Same layout as flume_header, so arrays of it are passed to the C
 * library as they are.
 */
class Header {
 public:
  Header(CStr key, CStr value) noexcept : h_{key.c_str(), value.c_str()} {}
  std::string_view key() const noexcept { return h_.key ? h_.key : ""; }
  std::string_view value() const noexcept { return h_.value ? h_.value : ""; }
  const flume_header& c_header() const noexcept { return h_; }

 private:
  flume_header h_;
};
static_assert(std::is_standard_layout_v<Header> && sizeof(Header) == sizeof(flume_header),
              "flume::Header must have flume_header's layout");

namespace detail {
template <class R, class T, class = void>
struct is_contiguous_of : std::false_type {};
template <class R, class T>
struct is_contiguous_of<R, T,
                        std::void_t<decltype(std::data(std::declval<const R&>())),
                                    decltype(std::size(std::declval<const R&>()))>>
    : std::bool_constant<std::is_same_v<std::remove_cv_t<std::remove_pointer_t<decltype(std::data(
                                            std::declval<const R&>()))>>,
                                        T>> {};
}  // namespace detail

/**
 * One event: a body of any bytes and its headers, both borrowed (nothing is
 * copied until send() queues it). Same layout as flume_event, so any
 * contiguous range of flume::Event (std::vector, std::array, a C array,
 * std::span) is passed to flume_client_append_batch() as it is.
 */
class Event {
 public:
  /** An empty event: no headers, empty body. */
  Event() noexcept : e_{nullptr, 0, nullptr, 0} {}
  /** A body without headers (from a string_view, a C string or a std::string). */
  Event(std::string_view body) noexcept : e_{nullptr, 0, body.data(), body.size()} {}  // NOLINT
  Event(const char* body) noexcept : Event(std::string_view(body)) {}                  // NOLINT
  Event(const std::string& body) noexcept : Event(std::string_view(body)) {}           // NOLINT
  /** A body of `len` bytes at `data` without headers. */
  Event(const void* data, std::size_t len) noexcept : e_{nullptr, 0, data, len} {}
  /** A body and `count` headers at `headers`. */
  Event(std::string_view body, const Header* headers, std::size_t count) noexcept
      : e_{reinterpret_cast<const flume_header*>(headers), count, body.data(), body.size()} {}
  /** A body and the headers of a contiguous range of flume::Header (kept by the caller). */
  template <class Headers, class = std::enable_if_t<detail::is_contiguous_of<Headers, Header>::value>>
  Event(std::string_view body, const Headers& headers) noexcept
      : Event(body, std::data(headers), std::size(headers)) {}
  /** A temporary range of headers would be gone before the event is sent. */
  template <class Headers, class = std::enable_if_t<!std::is_lvalue_reference_v<Headers> &&
                                                    detail::is_contiguous_of<Headers, Header>::value>>
  Event(std::string_view body, Headers&& headers, int = 0) = delete;

  std::string_view body() const noexcept {
    return e_.body_len ? std::string_view(static_cast<const char*>(e_.body), e_.body_len) : std::string_view();
  }
  std::size_t header_count() const noexcept { return e_.header_count; }
  const Header* headers() const noexcept { return reinterpret_cast<const Header*>(e_.headers); }
  const flume_event& c_event() const noexcept { return e_; }

 private:
  flume_event e_;
};
static_assert(std::is_standard_layout_v<Event> && sizeof(Event) == sizeof(flume_event),
              "flume::Event must have flume_event's layout");

/**
 * Client settings (flume_config): Flume's key names, set one by one or from a
 * properties file; the setters return *this for chaining and throw
 * flume::Error(FLUME_ERR_CONFIG) naming the key on a bad key or value (the
 * std::nothrow overloads return the Result instead). Move-only; one thread at
 * a time. A client copies what it needs: a Config may be changed or destroyed
 * once the client is made.
 */
class Config {
 public:
  /** Default settings. Throws std::bad_alloc if the C library cannot allocate. */
  Config() : conf_(flume_config_new()) {
#if FLUME_CLIENT_HPP_EXCEPTIONS
    if (!conf_) throw std::bad_alloc();
#endif
  }

#if FLUME_CLIENT_HPP_EXCEPTIONS
  /** flume_config_set(key, value). */
  Config& set(std::string_view key, std::string_view value) & {
    detail::check(set(std::nothrow, key, value));
    return *this;
  }
  Config&& set(std::string_view key, std::string_view value) && { return std::move(set(key, value)); }
  /** flume_config_load_properties(path): a Java properties file; errors name the line. */
  Config& load_properties(const std::string& path) & {
    detail::check(load_properties(std::nothrow, path));
    return *this;
  }
  Config&& load_properties(const std::string& path) && { return std::move(load_properties(path)); }
  /** flume_config_load_properties_str(text): the same, from a string. */
  Config& load_properties_str(std::string_view text) & {
    detail::check(load_properties_str(std::nothrow, text));
    return *this;
  }
  Config&& load_properties_str(std::string_view text) && { return std::move(load_properties_str(text)); }
#endif

  Result set(std::nothrow_t, std::string_view key, std::string_view value) {
    return detail::result(flume_config_set(conf_.get(), std::string(key).c_str(), std::string(value).c_str()));
  }
  Result load_properties(std::nothrow_t, const std::string& path) {
    return detail::result(flume_config_load_properties(conf_.get(), path.c_str()));
  }
  Result load_properties_str(std::nothrow_t, std::string_view text) {
    return detail::result(flume_config_load_properties_str(conf_.get(), std::string(text).c_str()));
  }

  /** The C handle, still owned by this Config. */
  flume_config* get() const noexcept { return conf_.get(); }

 private:
  struct Free {
    void operator()(flume_config* c) const noexcept { flume_config_free(c); }
  };
  std::unique_ptr<flume_config, Free> conf_;
};

/**
 * A delivery report of send(): the code (FLUME_OK when a source acknowledged
 * the event) and the library's message ("" for FLUME_OK; valid only during the
 * callback: copy it to keep it).
 */
struct DeliveryReport {
  Code code;
  std::string_view message;
  bool ok() const noexcept { return code == FLUME_OK; }
  bool delivery_unknown() const noexcept { return flume::delivery_unknown(code); }
};

/** A report with the context given to send(): the callback may move out of it. */
template <class Context>
struct Delivery : DeliveryReport {
  Context& context;
};
template <>
struct Delivery<void> : DeliveryReport {};

namespace detail {
/**
 * How a per-event context travels through the C library's `void* opaque`:
 * small trivially copyable values (pointers, integers) inside the pointer
 * itself, anything else moved into a heap object that the report (or a send
 * that was refused) destroys.
 */
template <class C>
struct ContextBox {
  static constexpr bool in_pointer = std::is_trivially_copyable_v<C> && sizeof(C) <= sizeof(void*) &&
                                     alignof(C) <= alignof(void*);
  static void* pack(C&& c) {
    if constexpr (in_pointer) {
      void* p = nullptr;
      std::memcpy(&p, &c, sizeof(C));
      return p;
    } else {
      return new C(std::move(c));
    }
  }
  /** Calls f(C&), then destroys the context. */
  template <class F>
  static void unpack(void* p, F&& f) {
    if constexpr (in_pointer) {
      alignas(C) unsigned char storage[sizeof(C)];
      std::memcpy(storage, &p, sizeof(C));
      f(*std::launder(reinterpret_cast<C*>(storage)));
    } else {
      std::unique_ptr<C> owned(static_cast<C*>(p));
      f(*owned);
    }
  }
  static void discard(void* p) noexcept {
    if constexpr (!in_pointer) delete static_cast<C*>(p);
  }
};

/**
 * Whether a context of type C can own a borrowed body (send_borrowed()): a
 * contiguous range of bytes that owns them (std::string, std::vector<char>,
 * std::vector<std::byte>; not a trivially copyable view such as
 * std::string_view or std::span), kept on the heap, where its bytes never move.
 */
template <class C, class = void>
struct owns_bytes : std::false_type {};
template <class C>
struct owns_bytes<C, std::void_t<decltype(std::data(std::declval<const C&>())),
                                 decltype(std::size(std::declval<const C&>()))>>
    : std::bool_constant<sizeof(*std::data(std::declval<const C&>())) == 1 && !std::is_trivially_copyable_v<C>> {};

template <class F>
bool callable_is_set(const F& f) noexcept {
  if constexpr (std::is_constructible_v<bool, const F&>) {
    return static_cast<bool>(f);  // an empty std::function or a null function pointer
  } else {
    return true;
  }
}

/** The C callback: `user` is the client's F. noexcept: an exception escaping the callback ends the program. */
template <class Context, class F>
void report(void* opaque, flume_result code, const char* message, void* user) noexcept {
  F& f = *static_cast<F*>(user);
  std::string_view text = message ? message : "";
  if constexpr (std::is_void_v<Context>) {
    (void)opaque;
    if (callable_is_set(f)) f(Delivery<void>{{code, text}});
  } else {
    ContextBox<Context>::unpack(opaque, [&](Context& context) {
      if (callable_is_set(f)) f(Delivery<Context>{{code, text}, context});
    });
  }
}

struct NoCallback {
  template <class D>
  void operator()(const D&) const noexcept {}
};
}  // namespace detail

/**
 * A client of one or more Flume Thrift sources (flume_client). Move-only. Its
 * destructor is flume_client_free(): it flushes events queued by send() for at
 * most close-timeout, then reports what is left; the delivery callback never
 * runs after the destructor returns (and is destroyed only then).
 *
 * `Context` is the type of the per-event value given to send() and handed back,
 * by reference, in the delivery report (Delivery<Context>::context); `void`
 * (flume::Client) for none. A context is destroyed right after its report, or
 * at once when send() refuses the event: none is leaked or reported twice.
 */
template <class Context = void>
class BasicClient {
 public:
  using Report = Delivery<Context>;

#if FLUME_CLIENT_HPP_EXCEPTIONS
  /** A client without a delivery callback (reports only counted in the statistics). */
  explicit BasicClient(std::string_view hosts) : BasicClient(hosts, nullptr, detail::NoCallback{}) {}
  BasicClient(std::string_view hosts, const Config& config) : BasicClient(hosts, config.get(), detail::NoCallback{}) {}

  /**
   * A client whose delivery reports of send() go to `on_delivery`, any callable
   * taking `const Report&` (or `Report&`): a lambda capturing state, a
   * std::function, a function object. It is moved into the client and runs on
   * the client's sender thread (see flume_delivery_cb: return quickly, do not
   * flush or destroy this client from it); it must not throw (std::terminate).
   * `config` is used as it is; its own C delivery callback, if one was set
   * through get(), is not used by this client and is removed from `config`.
   * Throws flume::Error as flume_client_new() fails (hosts malformed, TLS
   * settings unusable). Does not connect and does not block.
   */
  template <class F, class = std::enable_if_t<std::is_invocable_v<std::decay_t<F>&, const Report&>>>
  BasicClient(std::string_view hosts, const Config& config, F&& on_delivery)
      : BasicClient(hosts, config.get(), std::forward<F>(on_delivery)) {}
#endif

  /** Non-throwing construction: the client, or std::nullopt with the reason in `error`. */
  static std::optional<BasicClient> create(std::nothrow_t, std::string_view hosts, const Config& config,
                                           Result& error) {
    return create(std::nothrow, hosts, config, detail::NoCallback{}, error);
  }
  template <class F, class = std::enable_if_t<std::is_invocable_v<std::decay_t<F>&, const Report&>>>
  static std::optional<BasicClient> create(std::nothrow_t, std::string_view hosts, const Config& config,
                                           F&& on_delivery, Result& error) {
    BasicClient client(Unchecked{}, &error, hosts, config.get(), std::forward<F>(on_delivery));
    if (!client) return std::nullopt;
    return std::optional<BasicClient>(std::move(client));
  }

  BasicClient(BasicClient&& other) noexcept = default;
  BasicClient& operator=(BasicClient&& other) noexcept {
    if (this != &other) {
      handle_.reset();  // free (and flush) the old client before its callback goes
      callback_ = std::move(other.callback_);
      handle_ = std::move(other.handle_);
    }
    return *this;
  }
  BasicClient(const BasicClient&) = delete;
  BasicClient& operator=(const BasicClient&) = delete;
  /** flume_client_free(): at most close-timeout; then the callback is destroyed. */
  ~BasicClient() { handle_.reset(); }

  /** False only for a moved-from client (whose calls fail with FLUME_ERR_INVALID_ARG). */
  explicit operator bool() const noexcept { return handle_ != nullptr; }
  /** The C handle, still owned by this client. */
  flume_client* get() const noexcept { return handle_.get(); }

#if FLUME_CLIENT_HPP_EXCEPTIONS
  /** flume_client_append(): one event, acknowledged when this returns. */
  void append(const Event& event) { detail::check(append(std::nothrow, event)); }
  /**
   * flume_client_append_batch() over a contiguous range of flume::Event (or
   * flume_event). Returns the number of events, all acknowledged; on failure
   * the flume::Error's delivered() counts the leading events acknowledged.
   */
  template <class Events>
  std::size_t append_batch(const Events& events) {
    Result r = append_batch(std::nothrow, events);
    std::size_t delivered = r.delivered;
    detail::check(std::move(r));
    return delivered;
  }
  /** flume_client_send() with no context: queued when this returns; reported later. */
  template <class C = Context, class = std::enable_if_t<std::is_void_v<C>>>
  void send(const Event& event) {
    detail::check(send(std::nothrow, event));
  }
  /** flume_client_send(): `context` comes back in this event's report (or is destroyed now if refused). */
  template <class C = Context, class = std::enable_if_t<!std::is_void_v<C>>>
  void send(const Event& event, C context) {
    detail::check(send(std::nothrow, event, std::move(context)));
  }
  /**
   * flume_client_send_borrowed() for a client whose Context owns bodies
   * (std::string, std::vector<char>, ...: see detail::owns_bytes): `body` is
   * moved into the client, and the event sent is its bytes with `headers`
   * (copied; the range may be a temporary). A body of 1 KiB or more is sent
   * from the moved `body` itself, without a copy; it comes back as the
   * report's context and is destroyed after the report, so its bytes live as
   * long as the library reads them. Needs a delivery callback (else
   * FLUME_ERR_INVALID_ARG); refused, `body` is destroyed before this returns.
   */
  template <class C = Context, class = std::enable_if_t<detail::owns_bytes<C>::value>>
  void send_borrowed(C body) {
    detail::check(send_borrowed(std::nothrow, std::move(body)));
  }
  template <class Headers, class C = Context,
            class = std::enable_if_t<detail::owns_bytes<C>::value && detail::is_contiguous_of<Headers, Header>::value>>
  void send_borrowed(C body, const Headers& headers) {
    detail::check(send_borrowed(std::nothrow, std::move(body), headers));
  }
  /** flume_client_flush(): throws flume::Error(FLUME_ERR_TIMEOUT) when time runs out. */
  void flush(std::chrono::milliseconds timeout) { detail::check(flush(std::nothrow, timeout)); }
#endif

  Result append(std::nothrow_t, const Event& event) {
    return detail::result(flume_client_append(handle_.get(), &event.c_event()));
  }
  template <class Events>
  Result append_batch(std::nothrow_t, const Events& events) {
    static_assert(detail::is_contiguous_of<Events, Event>::value || detail::is_contiguous_of<Events, flume_event>::value,
                  "append_batch takes a contiguous range (vector, array, span, C array) of flume::Event or flume_event");
    std::size_t delivered = 0;
    const auto* first = std::data(events);
    Code code = flume_client_append_batch(handle_.get(), reinterpret_cast<const flume_event*>(first),
                                          std::size(events), &delivered);
    return detail::result(code, delivered);
  }
  template <class C = Context, class = std::enable_if_t<std::is_void_v<C>>>
  Result send(std::nothrow_t, const Event& event) {
    return detail::result(flume_client_send(handle_.get(), &event.c_event(), nullptr));
  }
  template <class C = Context, class = std::enable_if_t<!std::is_void_v<C>>>
  Result send(std::nothrow_t, const Event& event, C context) {
    void* opaque = detail::ContextBox<C>::pack(std::move(context));
    Code code = flume_client_send(handle_.get(), &event.c_event(), opaque);
    if (code != FLUME_OK) detail::ContextBox<C>::discard(opaque);  // refused: no report will come
    return detail::result(code);
  }
  template <class C = Context, class = std::enable_if_t<detail::owns_bytes<C>::value>>
  Result send_borrowed(std::nothrow_t, C body) {
    return send_borrowed_from(std::move(body), nullptr, 0);
  }
  template <class Headers, class C = Context,
            class = std::enable_if_t<detail::owns_bytes<C>::value && detail::is_contiguous_of<Headers, Header>::value>>
  Result send_borrowed(std::nothrow_t, C body, const Headers& headers) {
    return send_borrowed_from(std::move(body), std::data(headers), std::size(headers));
  }
  Result flush(std::nothrow_t, std::chrono::milliseconds timeout) {
    auto ms = timeout.count() < 0 ? 0 : timeout.count();
    auto capped = static_cast<std::uint32_t>(ms > 0xFFFFFFFF ? 0xFFFFFFFF : ms);
    return detail::result(flume_client_flush(handle_.get(), capped));
  }

  /** flume_client_stats_json(). Throws flume::Error on a moved-from client ("" without exceptions). */
  std::string stats_json() const { return take(flume_client_stats_json(handle_.get())); }
  /** flume_client_stats_prometheus(): the Prometheus text format, to serve as it is. */
  std::string stats_prometheus() const { return take(flume_client_stats_prometheus(handle_.get())); }

 private:
  struct Free {
    void operator()(flume_client* c) const noexcept { flume_client_free(c); }
  };
  using Callback = std::unique_ptr<void, void (*)(void*)>;
  struct Unchecked {};

  /** The throwing constructors' common part. */
  template <class F>
  BasicClient(std::string_view hosts, const flume_config* config, F&& on_delivery)
      : BasicClient(Unchecked{}, nullptr, hosts, config, std::forward<F>(on_delivery)) {}

  /**
   * Makes the client. On failure handle_ stays NULL and the reason goes to
   * `*error`, or is thrown as flume::Error when `error` is NULL.
   */
  template <class F>
  BasicClient(Unchecked, Result* error, std::string_view hosts, const flume_config* config, F&& on_delivery)
      : callback_(nullptr, [](void*) noexcept {}) {
    using Fn = std::decay_t<F>;
    constexpr bool none = std::is_same_v<Fn, detail::NoCallback> && std::is_void_v<Context>;
    std::string host_list(hosts);
    // flume_client_new() copies the config, callback included: it is set for
    // that call only, on a config of our own when the caller gave none.
    std::unique_ptr<flume_config, void (*)(flume_config*)> own(nullptr, flume_config_free);
    flume_config* conf = const_cast<flume_config*>(config);
    if (!none && !conf) {
      own.reset(flume_config_new());
      conf = own.get();
    }
    if constexpr (!none) {
      callback_ = Callback(new Fn(std::forward<F>(on_delivery)), [](void* p) noexcept { delete static_cast<Fn*>(p); });
      flume_config_set_delivery_cb(conf, &detail::report<Context, Fn>, callback_.get());
    } else {
      (void)on_delivery;
    }
    handle_.reset(flume_client_new(host_list.c_str(), conf));
    Result failure;
    if (!handle_) {
      // flume_client_new() returns no code; its message starts with the code's name.
      failure.message = flume_last_error();
      failure.code = detail::code_of_message(failure.message);
      callback_.reset();
    }
    if constexpr (!none) flume_config_set_delivery_cb(conf, nullptr, nullptr);
    if (error) {
      *error = std::move(failure);
    } else if (!handle_) {
#if FLUME_CLIENT_HPP_EXCEPTIONS
      throw Error(std::move(failure));
#endif
    }
  }

  /** send_borrowed(): the body moved to the heap first, so the event points at its final place. */
  template <class C>
  Result send_borrowed_from(C body, const Header* headers, std::size_t count) {
    void* opaque = detail::ContextBox<C>::pack(std::move(body));  // `new C`: C is not trivially copyable
    const C& owner = *static_cast<const C*>(opaque);
    flume_event event{reinterpret_cast<const flume_header*>(headers), count, std::data(owner), std::size(owner)};
    Code code = flume_client_send_borrowed(handle_.get(), &event, opaque);
    if (code != FLUME_OK) detail::ContextBox<C>::discard(opaque);  // refused: no report will come
    return detail::result(code);
  }

  std::string take(char* s) const {
    std::unique_ptr<char, void (*)(char*)> owned(s, flume_string_free);
    if (!owned) {
#if FLUME_CLIENT_HPP_EXCEPTIONS
      throw Error(FLUME_ERR_INVALID_ARG, "the client was moved from");
#else
      return std::string();
#endif
    }
    return std::string(owned.get());
  }

  // Declared before handle_, so destroyed after it: the callback outlives the C client.
  Callback callback_;
  std::unique_ptr<flume_client, Free> handle_;
};

/** A client without per-event contexts. */
using Client = BasicClient<void>;

}  // namespace flume

#endif  // FLUME_CLIENT_HPP
