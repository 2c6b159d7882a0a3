// A Flume Thrift source stand-in built on Apache Thrift's Java library, set up
// the way Flume's ThriftSource sets up its server: TThreadedSelectorServer over
// TNonblockingServerSocket, TFastFramedTransport, TCompactProtocol or
// TBinaryProtocol with their default settings, the generated processor.
//
// Usage: java FlumeTestServer PORT PROTOCOL OUTPUT
//
//   PORT      port to listen on, on 127.0.0.1 (0: any free port)
//   PROTOCOL  compact | binary
//   OUTPUT    file the received calls are written to, or - to record nothing
//             (the benchmark's server: the generated code still decodes every call)
//
// Needs the Java code generated from tests/peers/flume.thrift
// (org.apache.flume.thrift.*) and libthrift on the class path.
//
// Prints "PORT <n>" on stdout once serving. Answers OK to every call and
// appends each call to OUTPUT, flushed before the reply is sent:
//
//   call <n> <method> <event count>
//   event <hex body, or - if empty>[ <hex key>=<hex value>]...
//
// Header keys and values are the UTF-8 bytes of the strings the generated code
// decoded. Exits when stdin reaches end of file (its parent is gone).

import java.io.BufferedWriter;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import org.apache.flume.thrift.Status;
import org.apache.flume.thrift.ThriftFlumeEvent;
import org.apache.flume.thrift.ThriftSourceProtocol;
import org.apache.thrift.TException;
import org.apache.thrift.protocol.TBinaryProtocol;
import org.apache.thrift.protocol.TCompactProtocol;
import org.apache.thrift.protocol.TProtocolFactory;
import org.apache.thrift.server.TServer;
import org.apache.thrift.server.TThreadedSelectorServer;
import org.apache.thrift.transport.TNonblockingServerSocket;
import org.apache.thrift.transport.layered.TFastFramedTransport;

public class FlumeTestServer {

  static final class Recorder implements ThriftSourceProtocol.Iface {
    private final Writer out;
    private long calls = 0;

    /** Records to the file at `path`, or nowhere if it is "-". */
    Recorder(String path) throws IOException {
      out = path.equals("-")
          ? null
          : new BufferedWriter(new OutputStreamWriter(new FileOutputStream(path), StandardCharsets.US_ASCII));
    }

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private static void hex(StringBuilder sb, byte[] bytes) {
      for (byte b : bytes) {
        sb.append(HEX[(b >> 4) & 0xf]).append(HEX[b & 0xf]);
      }
    }

    private static void line(StringBuilder sb, ThriftFlumeEvent event) {
      sb.append("event ");
      byte[] body = event.getBody();
      if (body == null || body.length == 0) {
        sb.append('-');
      } else {
        hex(sb, body);
      }
      Map<String, String> headers = event.getHeaders();
      if (headers != null) {
        for (Map.Entry<String, String> h : headers.entrySet()) {
          sb.append(' ');
          hex(sb, h.getKey().getBytes(StandardCharsets.UTF_8));
          sb.append('=');
          hex(sb, h.getValue().getBytes(StandardCharsets.UTF_8));
        }
      }
      sb.append('\n');
    }

    private synchronized void record(String method, List<ThriftFlumeEvent> events) throws TException {
      if (out == null) {
        return;
      }
      StringBuilder sb = new StringBuilder();
      calls++;
      sb.append("call ").append(calls).append(' ').append(method).append(' ').append(events.size()).append('\n');
      for (ThriftFlumeEvent event : events) {
        line(sb, event);
      }
      try {
        out.write(sb.toString());
        out.flush();
      } catch (IOException e) {
        throw new TException("cannot record the call", e);
      }
    }

    @Override
    public Status append(ThriftFlumeEvent event) throws TException {
      record("append", List.of(event));
      return Status.OK;
    }

    @Override
    public Status appendBatch(List<ThriftFlumeEvent> events) throws TException {
      record("appendBatch", events);
      return Status.OK;
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: FlumeTestServer PORT PROTOCOL OUTPUT");
      System.exit(2);
    }
    int port = Integer.parseInt(args[0]);
    TProtocolFactory protocolFactory = protocolFactory(args[1]);

    TNonblockingServerSocket socket =
        new TNonblockingServerSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
    ExecutorService workers = Executors.newCachedThreadPool();
    TThreadedSelectorServer.Args serverArgs = new TThreadedSelectorServer.Args(socket);
    serverArgs.executorService(workers);
    serverArgs.protocolFactory(protocolFactory);
    serverArgs.transportFactory(new TFastFramedTransport.Factory());
    serverArgs.processor(new ThriftSourceProtocol.Processor<ThriftSourceProtocol.Iface>(new Recorder(args[2])));
    serveUntilStdinCloses(new TThreadedSelectorServer(serverArgs), socket.getPort());
  }

  /** The protocol named compact or binary, with its default settings (as Flume's); exits on any other name. */
  static TProtocolFactory protocolFactory(String name) {
    switch (name) {
      case "compact": return new TCompactProtocol.Factory();
      case "binary": return new TBinaryProtocol.Factory();
      default:
        System.err.println("unknown protocol " + name);
        System.exit(2);
        return null;
    }
  }

  /** Serves, prints "PORT n" once serving, and exits when the test that started us closes our stdin (or dies). */
  static void serveUntilStdinCloses(TServer server, int port) throws Exception {
    Thread serving = new Thread(server::serve, "serve");
    serving.setDaemon(true);
    serving.start();
    long start = System.currentTimeMillis();
    while (!server.isServing()) {
      if (System.currentTimeMillis() - start > 20000) {
        System.err.println("the Thrift server did not start serving within 20 s");
        System.exit(1);
      }
      Thread.sleep(10);
    }
    System.out.println("PORT " + port);
    System.out.flush();
    byte[] buf = new byte[4096];
    while (System.in.read(buf) >= 0) {
    }
    System.exit(0);
  }
}
