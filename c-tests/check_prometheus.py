"""Checks `cpp_api prometheus` output with prometheus_client's own parser.

    check_prometheus.py FILE

FILE holds what flume_client_stats_prometheus() returned after the program
sent 7 events in one batch, 1 with append and 1 with send (9 events, 3 calls)
to a receiver answering OK. Every family must parse, carry HELP and TYPE, have
the expected type and values, and the latency histogram must be cumulative
with +Inf equal to its count.
"""
import sys

from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1]).read()
families = {f.name: f for f in text_string_to_metric_families(text)}
errors = []


def check(cond, what):
    if not cond:
        errors.append(what)


def value(family, sample_name=None, **labels):
    f = families[family]
    for s in f.samples:
        if (sample_name is None or s.name == sample_name) and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise KeyError(f"{family} {sample_name} {labels}")


# The parser drops "_total" from counter family names (as OpenMetrics does).
expected_types = {
    "flume_client_events_acked": "counter",
    "flume_client_calls_acked": "counter",
    "flume_client_sent_bytes": "counter",
    "flume_client_connections_opened": "counter",
    "flume_client_call_failures": "counter",
    "flume_client_call_duration_seconds": "histogram",
    "flume_client_call_duration_max_seconds": "gauge",
    "flume_client_queue_events": "gauge",
    "flume_client_queue_bytes": "gauge",
    "flume_client_delivery_reports": "counter",
    "flume_client_host_up": "gauge",
    "flume_client_host_backoff_seconds": "gauge",
    "flume_client_host_consecutive_failures": "gauge",
    "flume_client_host_events_acked": "counter",
    "flume_client_host_calls_acked": "counter",
    "flume_client_host_call_failures": "counter",
    "flume_client_host_connections_opened": "counter",
    "flume_client_host_idle_connections": "gauge",
}
for name, kind in expected_types.items():
    check(name in families, f"family {name} missing")
    if name in families:
        check(families[name].type == kind, f"{name} is {families[name].type}, expected {kind}")
        check(families[name].documentation.strip() != "", f"{name} has no HELP text")
check(set(families) == set(expected_types), f"unexpected families: {set(families) - set(expected_types)}")
for line in text.splitlines():
    if line.startswith("# TYPE "):
        check(line.split()[2] in [f"{n}_total" if t == "counter" else n for n, t in expected_types.items()],
              f"TYPE line for an unknown name: {line}")

check(value("flume_client_events_acked") == 9, "events_acked_total != 9")
check(value("flume_client_calls_acked") >= 3, "calls_acked_total < 3")
check(value("flume_client_sent_bytes") > 0, "sent_bytes_total is 0")
check(value("flume_client_connections_opened") >= 1, "no connection counted")
codes = {s.labels["code"]: s.value for s in families["flume_client_call_failures"].samples}
check(len(codes) >= 12 and all(c.startswith("FLUME_ERR_") for c in codes) and all(v == 0 for v in codes.values()),
      f"failures by code: {codes}")
reports = {s.labels["result"]: s.value for s in families["flume_client_delivery_reports"].samples}
check(reports.get("FLUME_OK") == 1 and sum(reports.values()) == 1, f"reports by result: {reports}")
check(value("flume_client_queue_events") == 0, "queue not empty after flush")

buckets = [(s.labels["le"], s.value) for s in families["flume_client_call_duration_seconds"].samples
           if s.name.endswith("_bucket")]
count = value("flume_client_call_duration_seconds", "flume_client_call_duration_seconds_count")
total = value("flume_client_call_duration_seconds", "flume_client_call_duration_seconds_sum")
check(buckets[-1][0] == "+Inf" and buckets[-1][1] == count, "+Inf bucket != count")
bounds = [float(le) for le, _ in buckets]
check(bounds == sorted(bounds) and bounds[0] == 1e-06, f"bucket bounds {bounds[:3]}...")
counts = [v for _, v in buckets]
check(counts == sorted(counts), "buckets are not cumulative")
check(count == value("flume_client_calls_acked"), "histogram count != calls acknowledged")
check(0 < total <= count * value("flume_client_call_duration_max_seconds") + 1e-6, "latency sum out of range")

hosts = [s.labels["host"] for s in families["flume_client_host_up"].samples]
check(len(hosts) == 1 and hosts[0].startswith("127.0.0.1:"), f"hosts: {hosts}")
check(value("flume_client_host_up") == 1 and value("flume_client_host_backoff_seconds") == 0, "host not up")
check(value("flume_client_host_events_acked") == 9, "host events_acked != 9")

if errors:
    print("check_prometheus: FAIL:\n  " + "\n  ".join(errors) + "\n--- the text:\n" + text, file=sys.stderr)
    sys.exit(1)
print(f"ok: {len(families)} metric families parsed by prometheus_client, "
      f"{sum(len(f.samples) for f in families.values())} samples, values as sent")
