// Flume's own Java client in the benchmark (bench/run.sh): flume-ng-sdk 1.11.0's
// RpcClientFactory with client.type = thrift, sending the events every client
// of the suite sends (bench_common.h: three headers, bodies whose byte i is
// 'a' + i % 26), one connection, calls one after another: append for batch 1,
// appendBatch otherwise. One JVM runs every cell of a server and protocol (a
// JVM start per cell would cost more than the cell), warming up before each.
//
// Usage: java -cp <flume jars>:. FlumeSdkBench PORT SERVER PROTOCOL WARMUP SECONDS REPEAT BATCHES BODIES
//   BATCHES, BODIES: comma-separated, e.g. 1,100,1000 and 256,4096
// Prints one JSON line per cell and round, as bench_common.h's bench_loop does.
// Client CPU is the whole JVM's (getProcessCpuTime: the JIT and GC included);
// heap allocations are not counted (null).

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import org.apache.flume.Event;
import org.apache.flume.api.RpcClient;
import org.apache.flume.api.RpcClientFactory;
import org.apache.flume.event.EventBuilder;

public final class FlumeSdkBench {
  public static void main(String[] args) throws Exception {
    if (args.length != 8) {
      System.err.println("usage: FlumeSdkBench PORT SERVER PROTOCOL WARMUP SECONDS REPEAT BATCHES BODIES");
      System.exit(2);
    }
    String port = args[0];
    String server = args[1];
    String protocol = args[2];
    double warmup = Double.parseDouble(args[3]);
    double seconds = Double.parseDouble(args[4]);
    int repeat = Integer.parseInt(args[5]);
    int[] batches = Arrays.stream(args[6].split(",")).mapToInt(Integer::parseInt).toArray();
    int[] bodies = Arrays.stream(args[7].split(",")).mapToInt(Integer::parseInt).toArray();
    for (int body : bodies) {
      for (int batch : batches) {
        for (int r = 0; r < repeat; r++) {
          System.out.println(cell(port, server, protocol, batch, body, warmup, seconds));
          System.out.flush();
        }
      }
    }
  }

  static String cell(String port, String server, String protocol, int batch, int bodyLen, double warmup,
      double seconds) throws Exception {
    Properties props = new Properties();
    props.setProperty("client.type", "thrift");
    props.setProperty("hosts", "h1");
    props.setProperty("hosts.h1", "127.0.0.1:" + port);
    props.setProperty("protocol", protocol);
    props.setProperty("batch-size", Integer.toString(batch));
    props.setProperty("maxConnections", "1");
    RpcClient client = RpcClientFactory.getInstance(props);
    try {
      Map<String, String> headers = new HashMap<>();
      headers.put("host", "web-17.example.com");
      headers.put("topic", "clicks");
      headers.put("timestamp", "1718000000000");
      List<Event> events = new ArrayList<>(batch);
      for (int e = 0; e < batch; e++) {
        byte[] body = new byte[bodyLen];
        for (int i = 0; i < bodyLen; i++) {
          body[i] = (byte) ('a' + i % 26);
        }
        events.add(EventBuilder.withBody(body, new HashMap<>(headers)));
      }
      long end = System.nanoTime() + (long) (warmup * 1e9);
      while (System.nanoTime() < end) {
        call(client, events);
      }
      com.sun.management.OperatingSystemMXBean os =
          (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
      int maxSamples = 1 << 22;
      float[] lat = new float[maxSamples];
      long cpu0 = os.getProcessCpuTime();
      long t0 = System.nanoTime();
      long t = t0;
      end = t0 + (long) (seconds * 1e9);
      int calls = 0;
      while (t < end) {
        call(client, events);
        long t1 = System.nanoTime();
        if (calls < maxSamples) {
          lat[calls] = (float) ((t1 - t) / 1e3);
        }
        calls++;
        t = t1;
      }
      double elapsed = (t - t0) / 1e9;
      double cpu = (os.getProcessCpuTime() - cpu0) / 1e9;
      int n = Math.min(calls, maxSamples);
      Arrays.sort(lat, 0, n);
      double p50 = n > 0 ? lat[n / 2] : 0;
      double p99 = n > 0 ? lat[(int) (n * 0.99)] : 0;
      double eventsSent = (double) calls * batch;
      return String.format(Locale.ROOT,
          "{\"kind\":\"net\",\"client\":\"flume-java\",\"server\":\"%s\",\"protocol\":\"%s\",\"batch\":%d,"
              + "\"body\":%d,\"calls\":%d,\"seconds\":%.4f,\"events_per_s\":%.1f,\"cpu_us_per_event\":%.4f,"
              + "\"user_us_per_event\":null,\"sys_us_per_event\":null,\"cpu_util\":%.3f,"
              + "\"p50_us\":%.2f,\"p99_us\":%.2f,\"allocs_per_call\":null}",
          server, protocol, batch, bodyLen, calls, elapsed, eventsSent / elapsed, cpu * 1e6 / eventsSent,
          cpu / elapsed, p50, p99);
    } finally {
      client.close();
    }
  }

  static void call(RpcClient client, List<Event> events) throws Exception {
    if (events.size() == 1) {
      client.append(events.get(0));
    } else {
      client.appendBatch(events);
    }
  }
}
