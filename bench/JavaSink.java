// The benchmark's Apache Thrift Java server, set up as Flume's ThriftSource
// sets up its server (like tests/peers/FlumeTestServer.java, without the
// recording): TThreadedSelectorServer over TNonblockingServerSocket, a cached
// worker pool, TFastFramedTransport, TCompactProtocol or TBinaryProtocol with
// their default settings, the generated processor; the handler decodes every
// call (the generated code does) and answers Status.OK.
//
// Usage: java JavaSink PORT PROTOCOL
//   PORT      port on 127.0.0.1 (0: any free port)
//   PROTOCOL  compact | binary
//
// Needs the Java code generated from bench/flume.thrift and libthrift on the
// class path. Prints "PORT <n>" once serving; runs until killed.

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.Executors;

import org.apache.flume.thrift.Status;
import org.apache.flume.thrift.ThriftFlumeEvent;
import org.apache.flume.thrift.ThriftSourceProtocol;
import org.apache.thrift.protocol.TBinaryProtocol;
import org.apache.thrift.protocol.TCompactProtocol;
import org.apache.thrift.protocol.TProtocolFactory;
import org.apache.thrift.server.TServer;
import org.apache.thrift.server.TThreadedSelectorServer;
import org.apache.thrift.transport.TNonblockingServerSocket;
import org.apache.thrift.transport.layered.TFastFramedTransport;

public class JavaSink {
  static final class Ok implements ThriftSourceProtocol.Iface {
    @Override
    public Status append(ThriftFlumeEvent event) {
      return Status.OK;
    }

    @Override
    public Status appendBatch(List<ThriftFlumeEvent> events) {
      return Status.OK;
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: JavaSink PORT PROTOCOL");
      System.exit(2);
    }
    TProtocolFactory protocolFactory;
    if (args[1].equals("compact")) {
      protocolFactory = new TCompactProtocol.Factory();
    } else if (args[1].equals("binary")) {
      protocolFactory = new TBinaryProtocol.Factory();
    } else {
      System.err.println("unknown protocol " + args[1]);
      System.exit(2);
      return;
    }
    TNonblockingServerSocket socket = new TNonblockingServerSocket(
        new InetSocketAddress(InetAddress.getLoopbackAddress(), Integer.parseInt(args[0])));
    TThreadedSelectorServer.Args serverArgs = new TThreadedSelectorServer.Args(socket);
    serverArgs.executorService(Executors.newCachedThreadPool());
    serverArgs.protocolFactory(protocolFactory);
    serverArgs.transportFactory(new TFastFramedTransport.Factory());
    serverArgs.processor(new ThriftSourceProtocol.Processor<ThriftSourceProtocol.Iface>(new Ok()));
    TServer server = new TThreadedSelectorServer(serverArgs);
    Thread serving = new Thread(server::serve, "serve");
    serving.start();
    long start = System.currentTimeMillis();
    while (!server.isServing()) {
      if (System.currentTimeMillis() - start > 20000) {
        System.err.println("the Thrift server did not start serving within 20 s");
        System.exit(1);
      }
      Thread.sleep(10);
    }
    System.out.println("PORT " + socket.getPort());
    System.out.flush();
  }
}
