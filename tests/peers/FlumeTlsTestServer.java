// A Flume Thrift source stand-in serving TLS, set up the way Flume's
// ThriftSource does with ssl=true: TSSLTransportFactory.getServerSocket with a
// keystore and a client socket timeout, TThreadPoolServer, TFastFramedTransport,
// TCompactProtocol or TBinaryProtocol, the generated processor. Calls are
// recorded by FlumeTestServer.Recorder (same record format; compile the two
// together).
//
// Usage: java FlumeTlsTestServer PORT PROTOCOL OUTPUT KEYSTORE PASSWORD [OPTION]...
//
//   PORT      port to listen on, on 127.0.0.1 (0: any free port)
//   PROTOCOL  compact | binary
//   OUTPUT    file the received calls are written to
//   KEYSTORE  JKS keystore holding the server's key and certificate chain
//   PASSWORD  the keystore's (and truststore's) password
//   OPTION    timeout=MS         client socket timeout (Flume: 120000; default here 120000):
//                                an idle connection is closed after it
//             clientauth=FILE    require a client certificate signed by a CA in the JKS truststore FILE
//             protocols=P[,P]    enabled TLS versions, e.g. TLSv1.2 (default: the JDK's, less SSLv3 as Flume does)
//
// Prints "PORT <n>" on stdout once listening. Exits when stdin reaches end of
// file (its parent is gone).

import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.TrustManagerFactory;

import org.apache.flume.thrift.ThriftSourceProtocol;
import org.apache.thrift.protocol.TProtocolFactory;
import org.apache.thrift.server.TServer;
import org.apache.thrift.server.TThreadPoolServer;
import org.apache.thrift.transport.TSSLTransportFactory;
import org.apache.thrift.transport.TServerSocket;
import org.apache.thrift.transport.layered.TFastFramedTransport;

public class FlumeTlsTestServer {
  public static void main(String[] args) throws Exception {
    if (args.length < 5) {
      System.err.println("usage: FlumeTlsTestServer PORT PROTOCOL OUTPUT KEYSTORE PASSWORD [OPTION]...");
      System.exit(2);
    }
    int port = Integer.parseInt(args[0]);
    TProtocolFactory protocolFactory = FlumeTestServer.protocolFactory(args[1]);
    String keystore = args[3];
    String password = args[4];
    int timeout = 120000;
    String clientAuth = null;
    String[] protocols = null;
    for (int i = 5; i < args.length; i++) {
      String[] kv = args[i].split("=", 2);
      if (kv.length != 2) {
        System.err.println("bad option " + args[i]);
        System.exit(2);
      }
      switch (kv[0]) {
        case "timeout": timeout = Integer.parseInt(kv[1]); break;
        case "clientauth": clientAuth = kv[1]; break;
        case "protocols": protocols = kv[1].split(","); break;
        default:
          System.err.println("unknown option " + kv[0]);
          System.exit(2);
      }
    }

    // As Flume's ThriftSource.getSSLServerTransport().
    TSSLTransportFactory.TSSLTransportParameters params = new TSSLTransportFactory.TSSLTransportParameters();
    params.setKeyStore(keystore, password, KeyManagerFactory.getDefaultAlgorithm(), "JKS");
    if (clientAuth != null) {
      params.setTrustStore(clientAuth, password, TrustManagerFactory.getDefaultAlgorithm(), "JKS");
      params.requireClientAuth(true);
    }
    TServerSocket transport =
        TSSLTransportFactory.getServerSocket(port, timeout, InetAddress.getLoopbackAddress(), params);
    ServerSocket serverSocket = transport.getServerSocket();
    if (serverSocket instanceof SSLServerSocket) {
      SSLServerSocket ssl = (SSLServerSocket) serverSocket;
      if (protocols != null) {
        ssl.setEnabledProtocols(protocols);
      } else {
        List<String> enabled = new ArrayList<>(Arrays.asList(ssl.getEnabledProtocols()));
        enabled.remove("SSLv3");
        ssl.setEnabledProtocols(enabled.toArray(new String[0]));
      }
    }

    TThreadPoolServer.Args serverArgs = new TThreadPoolServer.Args(transport);
    serverArgs.protocolFactory(protocolFactory);
    serverArgs.transportFactory(new TFastFramedTransport.Factory());
    serverArgs.processor(
        new ThriftSourceProtocol.Processor<ThriftSourceProtocol.Iface>(new FlumeTestServer.Recorder(args[2])));
    FlumeTestServer.serveUntilStdinCloses(new TThreadPoolServer(serverArgs), serverSocket.getLocalPort());
  }
}
