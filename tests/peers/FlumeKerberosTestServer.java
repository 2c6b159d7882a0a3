// A Flume Thrift source stand-in with kerberos=true, set up the way Flume's
// ThriftSource does: a keytab login (JAAS Krb5LoginModule, as Flume's
// KerberosAuthenticator logs in through Hadoop's UGI), TSaslServerTransport
// with mechanism GSSAPI and QOP auth for the principal's service and host, a
// callback that authorizes a client whose authorization id is its
// authenticated principal (Hadoop's SaslGssCallbackHandler), every
// connection's negotiation run as the logged-in subject (Flume's
// TUGIAssumingTransportFactory), TThreadPoolServer, TCompactProtocol or
// TBinaryProtocol, the generated processor. Calls are recorded by
// FlumeTestServer.Recorder (same record format; compile them together).
//
// Usage: java FlumeKerberosTestServer PORT PROTOCOL OUTPUT PRINCIPAL KEYTAB [OPTION]...
//
//   PRINCIPAL  the source's agent-principal, service/host@REALM
//   KEYTAB     the source's agent-keytab
//   OPTION     ssl=KEYSTORE:PASSWORD  serve TLS first (Flume's ssl=true), JKS keystore
//              timeout=MS            client socket timeout (Flume: 120000; default here 120000)
//
// The JVM finds the KDC through -Djava.security.krb5.conf (or KRB5_CONFIG,
// copied to that property here). Prints "PORT <n>" on stdout once listening.
// Exits when stdin reaches end of file.

import java.net.InetAddress;
import java.net.ServerSocket;
import java.security.PrivilegedExceptionAction;
import java.util.HashMap;
import java.util.Map;

import javax.net.ssl.KeyManagerFactory;
import javax.security.auth.Subject;
import javax.security.auth.callback.Callback;
import javax.security.auth.callback.CallbackHandler;
import javax.security.auth.callback.UnsupportedCallbackException;
import javax.security.auth.login.AppConfigurationEntry;
import javax.security.auth.login.Configuration;
import javax.security.auth.login.LoginContext;
import javax.security.sasl.AuthorizeCallback;
import javax.security.sasl.Sasl;

import org.apache.flume.thrift.ThriftSourceProtocol;
import org.apache.thrift.protocol.TProtocolFactory;
import org.apache.thrift.server.TThreadPoolServer;
import org.apache.thrift.transport.TSSLTransportFactory;
import org.apache.thrift.transport.TSaslServerTransport;
import org.apache.thrift.transport.TServerSocket;
import org.apache.thrift.transport.TTransport;
import org.apache.thrift.transport.TTransportException;
import org.apache.thrift.transport.TTransportFactory;

public class FlumeKerberosTestServer {
  public static void main(String[] args) throws Exception {
    if (args.length < 5) {
      System.err.println("usage: FlumeKerberosTestServer PORT PROTOCOL OUTPUT PRINCIPAL KEYTAB [OPTION]...");
      System.exit(2);
    }
    int port = Integer.parseInt(args[0]);
    TProtocolFactory protocolFactory = FlumeTestServer.protocolFactory(args[1]);
    String principal = args[3];
    String keytab = args[4];
    String ssl = null;
    int timeout = 120000;
    for (int i = 5; i < args.length; i++) {
      String[] kv = args[i].split("=", 2);
      if (kv.length != 2) {
        System.err.println("bad option " + args[i]);
        System.exit(2);
      }
      switch (kv[0]) {
        case "ssl": ssl = kv[1]; break;
        case "timeout": timeout = Integer.parseInt(kv[1]); break;
        default:
          System.err.println("unknown option " + kv[0]);
          System.exit(2);
      }
    }
    String krb5conf = System.getenv("KRB5_CONFIG");
    if (krb5conf != null && System.getProperty("java.security.krb5.conf") == null) {
      System.setProperty("java.security.krb5.conf", krb5conf);
    }

    Subject subject = login(principal, keytab);

    // As Flume's ThriftSource.getSASLTransportFactory().
    String[] names = principal.split("[/@]");
    if (names.length != 3) {
      System.err.println("principal must be service/host@REALM: " + principal);
      System.exit(2);
    }
    Map<String, String> saslProperties = new HashMap<>();
    saslProperties.put(Sasl.QOP, "auth");
    TSaslServerTransport.Factory sasl = new TSaslServerTransport.Factory();
    sasl.addServerDefinition("GSSAPI", names[0], names[1], saslProperties, new SaslGssCallbackHandler());
    TTransportFactory asSubject = new TTransportFactory() {
      @Override
      public TTransport getTransport(TTransport trans) throws TTransportException {
        try {
          return Subject.doAs(subject, (PrivilegedExceptionAction<TTransport>) () -> sasl.getTransport(trans));
        } catch (java.security.PrivilegedActionException e) {
          Throwable cause = e.getCause();
          if (cause instanceof TTransportException) {
            throw (TTransportException) cause;
          }
          throw new TTransportException(cause);
        }
      }
    };

    TServerSocket transport;
    if (ssl != null) {
      int colon = ssl.lastIndexOf(':');
      TSSLTransportFactory.TSSLTransportParameters params = new TSSLTransportFactory.TSSLTransportParameters();
      params.setKeyStore(ssl.substring(0, colon), ssl.substring(colon + 1), KeyManagerFactory.getDefaultAlgorithm(), "JKS");
      transport = TSSLTransportFactory.getServerSocket(port, timeout, InetAddress.getLoopbackAddress(), params);
    } else {
      transport = new TServerSocket(new TServerSocket.ServerSocketTransportArgs()
          .bindAddr(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), port))
          .clientTimeout(timeout));
    }
    ServerSocket serverSocket = transport.getServerSocket();

    TThreadPoolServer.Args serverArgs = new TThreadPoolServer.Args(transport);
    serverArgs.protocolFactory(protocolFactory);
    serverArgs.transportFactory(asSubject);
    serverArgs.processor(
        new ThriftSourceProtocol.Processor<ThriftSourceProtocol.Iface>(new FlumeTestServer.Recorder(args[2])));
    FlumeTestServer.serveUntilStdinCloses(new TThreadPoolServer(serverArgs), serverSocket.getLocalPort());
  }

  /** A keytab login of the acceptor, as Hadoop's UGI.loginUserFromKeytab does. */
  static Subject login(String principal, String keytab) throws Exception {
    Map<String, String> options = new HashMap<>();
    options.put("useKeyTab", "true");
    options.put("keyTab", keytab);
    options.put("principal", principal);
    options.put("storeKey", "true");
    options.put("doNotPrompt", "true");
    options.put("useTicketCache", "false");
    options.put("isInitiator", "false");
    options.put("refreshKrb5Config", "true");
    Configuration jaas = new Configuration() {
      @Override
      public AppConfigurationEntry[] getAppConfigurationEntry(String name) {
        return new AppConfigurationEntry[] {
          new AppConfigurationEntry("com.sun.security.auth.module.Krb5LoginModule",
              AppConfigurationEntry.LoginModuleControlFlag.REQUIRED, options)
        };
      }
    };
    Subject subject = new Subject();
    LoginContext login = new LoginContext("flume-source", subject, null, jaas);
    login.login();
    return subject;
  }

  /** Hadoop's SaslRpcServer.SaslGssCallbackHandler: the authorization id must be the authenticated one. */
  static final class SaslGssCallbackHandler implements CallbackHandler {
    @Override
    public void handle(Callback[] callbacks) throws UnsupportedCallbackException {
      for (Callback callback : callbacks) {
        if (callback instanceof AuthorizeCallback) {
          AuthorizeCallback ac = (AuthorizeCallback) callback;
          ac.setAuthorized(ac.getAuthenticationID().equals(ac.getAuthorizationID()));
          if (ac.isAuthorized()) {
            ac.setAuthorizedID(ac.getAuthorizationID());
          }
        } else {
          throw new UnsupportedCallbackException(callback, "unrecognized SASL GSSAPI callback");
        }
      }
    }
  }
}
