//! Kerberos to a secured Flume Thrift source (`kerberos = true`): the SASL
//! GSSAPI negotiation that replaces nothing but the start of a connection.
//!
//! `transport` opens the TCP (and TLS) connection, then hands it to
//! `KerberosSettings::authenticate` through the `Channel` seam; the framing is
//! `sasl`'s, the tokens come from MIT's GSSAPI (`gssapi`, loaded at run time).
//! After the negotiation, with QOP `auth`, calls are the same frames as on a
//! plain connection.
//!
//! Credentials: from `client-keytab` (MIT's `client_keytab` credential store,
//! with a ccache in memory of this client's own, so the user's ticket cache is
//! never touched) or, without a keytab, from the ticket cache (`KRB5CCNAME`).
//! Tickets are needed only while a connection is made. MIT's library gets a
//! new ticket from the keytab when the one it holds expires; credentials
//! the library reports expired or missing are acquired again once, and the
//! connection tried again, so a long-lived client reconnects without failing
//! a call.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use crate::clock::Instant;

use crate::address::HostPort;
use crate::config::kerberos::check_keytab;
use crate::config::Config;
use crate::error::{err, Error, ErrorKind, Result};
use crate::gssapi::{self, Context, Credential, Gss, GssError, Name};
use crate::sasl::{self, Status};

/// The connection as the negotiation sees it: bytes out and in, through TLS
/// when the connection has it, each wait bounded by `deadline`. Errors are
/// the connection's own (`Io`, `Timeout`); the negotiation turns them into
/// `Connect`.
pub(crate) trait Channel {
    /// Sends all of `bytes`.
    fn send(&mut self, bytes: &[u8], deadline: Instant) -> Result<()>;
    /// Appends at least one received byte to `buf`.
    fn receive_some(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> Result<()>;
}

/// The part of `_HOST` in principals, replaced as Flume replaces it.
const HOST_PLACEHOLDER: &str = "_HOST";

/// How this client authenticates: read from the config once per client and
/// shared by all its connections.
pub(crate) struct KerberosSettings {
    gss: &'static Gss,
    client_principal: Option<String>,
    client_keytab: Option<PathBuf>,
    server_principal: String,
    /// This client's own ccache (in memory) when it logs in from a keytab.
    memory_ccache: Option<String>,
    /// Credentials acquired by the last connection, reused by the next.
    credential: Mutex<Option<Arc<Credential>>>,
}

impl KerberosSettings {
    /// The settings `config` asks for, `None` without `kerberos=true`. Fails
    /// with `Config` when the keys do not go together, a keytab cannot be
    /// read, or GSSAPI cannot be loaded.
    pub(crate) fn from_config(config: &Config) -> Result<Option<KerberosSettings>> {
        if !config.kerberos {
            if let Some(key) = config.kerberos_key_set() {
                return Err(err!(
                    Config,
                    "{key} is set but kerberos is not true: set kerberos=true to authenticate with Kerberos, \
                     or remove {key}"
                ));
            }
            return Ok(None);
        }
        let server_principal = config.server_principal.clone().ok_or_else(|| {
            err!(
                Config,
                "kerberos=true needs server-principal: the source's agent-principal, e.g. flume/_HOST@EXAMPLE.COM"
            )
        })?;
        if config.client_keytab.is_some() && config.client_principal.is_none() {
            return Err(err!(Config, "client-keytab needs client-principal: the principal whose keys it holds"));
        }
        if let Some(keytab) = &config.client_keytab {
            check_keytab(keytab)?;
        }
        let gss = gssapi::load().map_err(|e| err!(Config, "kerberos=true: {e}"))?;
        let client_principal =
            config.client_principal.as_deref().map(|p| p.replace(HOST_PLACEHOLDER, &local_host_name()));
        let memory_ccache = match (&client_principal, &config.client_keytab) {
            (Some(principal), Some(keytab)) => Some(memory_ccache(principal, keytab)),
            _ => None,
        };
        Ok(Some(KerberosSettings {
            gss,
            client_principal,
            client_keytab: config.client_keytab.clone(),
            server_principal,
            memory_ccache,
            credential: Mutex::new(None),
        }))
    }

    /// The server principal for `host`: `_HOST` replaced by the host's name, lowercased.
    pub(crate) fn server_principal_for(&self, host: &HostPort) -> String {
        self.server_principal.replace(HOST_PLACEHOLDER, &host.host.to_ascii_lowercase())
    }

    /// Runs the SASL GSSAPI negotiation on a freshly opened connection, by
    /// `deadline` (the connect deadline). Every failure is `Connect`: the
    /// server has read no call.
    pub(crate) fn authenticate(
        &self,
        stream: &mut dyn Channel,
        host: &HostPort,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<()> {
        let principal = self.server_principal_for(host);
        let target = Arc::new(self.target_name(&principal)?);
        let first = self.first_step(&target, &principal, timeout, deadline);
        let in_context = |(_, e): (Option<GssError>, Error)| {
            err!(Connect, "{host}: {} (nothing was delivered)", e.message()).with_source_of(&e)
        };
        let (context, token, credential) = match first {
            Err(e) if e.0.as_ref().is_some_and(credentials_stale) => {
                // Expired or vanished credentials: acquire them again, once.
                *self.credential.lock().unwrap_or_else(|p| p.into_inner()) = None;
                self.first_step(&target, &principal, timeout, deadline).map_err(in_context)?
            }
            other => other.map_err(in_context)?,
        };
        let mut negotiation = Negotiation { stream, host, principal: &principal, timeout, deadline, buf: Vec::new() };
        negotiation.run(context, token, &credential, &target)
    }

    fn target_name(&self, principal: &str) -> Result<Name> {
        let name = if principal.contains('@') {
            Name::principal(self.gss, principal)
        } else if let Some((service, host)) = principal.split_once('/') {
            Name::host_based(self.gss, &format!("{service}@{host}"))
        } else {
            Name::host_based(self.gss, principal)
        };
        name.map_err(|e| err!(Connect, "Kerberos: server-principal '{principal}' is not a valid name: {}", e.text))
    }

    /// Where credentials come from, for messages.
    fn credential_source(&self) -> String {
        match &self.client_keytab {
            Some(keytab) => format!("client-keytab {}", keytab.display()),
            None => "the ticket cache".to_string(),
        }
    }

    /// The first `gss_init_sec_context`, after acquiring credentials if the
    /// last connection left none. Both may wait for the KDC (a TGT from the
    /// keytab, a service ticket), and MIT's library does that wait by itself,
    /// so they run on a helper thread and the connection gives up at
    /// `deadline` (the abandoned step ends in the background; its context and
    /// credentials are then released).
    fn first_step(
        &self,
        target: &Arc<Name>,
        principal: &str,
        timeout: Duration,
        deadline: Instant,
    ) -> std::result::Result<FirstStep, StepFailure> {
        let held = self.credential.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let gss = self.gss;
        let client = self.client_principal.clone();
        let store: Vec<(String, String)> = match (&self.client_keytab, &self.memory_ccache) {
            (Some(keytab), Some(ccache)) => {
                vec![("client_keytab".into(), keytab.to_string_lossy().into_owned()), ("ccache".into(), ccache.clone())]
            }
            _ => Vec::new(),
        };
        let target_for_step = target.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("flume-kerberos".into())
            .spawn(move || {
                let result = (|| {
                    let credential = match held {
                        Some(credential) => credential,
                        None => {
                            let name = match &client {
                                Some(p) => Some(Name::principal(gss, p).map_err(Step::Name)?),
                                None => None,
                            };
                            let store: Vec<(&str, &str)> =
                                store.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                            Arc::new(Credential::acquire(gss, name.as_ref(), &store).map_err(Step::Acquire)?)
                        }
                    };
                    let mut context = Context::new(gss);
                    match context.step(&credential, &target_for_step, REQUESTED_FLAGS, &[]) {
                        Ok(token) => Ok((context, token, credential)),
                        Err(e) => Err(Step::Init(e, credential)),
                    }
                })();
                let _ = tx.send(result);
            })
            .map_err(|e| (None, err!(Connect, "Kerberos: cannot start the GSSAPI step: {e}")))?;
        let whom = self.client_principal.as_deref().unwrap_or("the default principal");
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok((context, token, credential))) => {
                *self.credential.lock().unwrap_or_else(|p| p.into_inner()) = Some(credential.clone());
                Ok((context, token, credential))
            }
            Ok(Err(Step::Name(e))) => {
                Err((None, err!(Connect, "Kerberos: client-principal '{whom}' is not a valid name: {}", e.text)))
            }
            Ok(Err(Step::Acquire(e))) => {
                let message = format!(
                    "Kerberos: cannot get credentials of {whom} from {}: {}",
                    self.credential_source(),
                    self.explain(&e, principal)
                );
                Err((Some(e), Error::new(ErrorKind::Connect, message)))
            }
            Ok(Err(Step::Init(e, credential))) => {
                // The credentials themselves are good unless they expired (then the caller drops them).
                *self.credential.lock().unwrap_or_else(|p| p.into_inner()) = Some(credential);
                let message = format!("Kerberos: cannot get a ticket for {principal}: {}", self.explain(&e, principal));
                Err((Some(e), Error::new(ErrorKind::Connect, message)))
            }
            Err(_) => Err((
                None,
                err!(
                    Connect,
                    "Kerberos: connect-timeout ({} ms) passed while getting tickets of {whom} for {principal} from \
                     the KDC (is the KDC of krb5.conf reachable?)",
                    timeout.as_millis()
                ),
            )),
        }
    }

    /// The GSSAPI text and what to check for it.
    fn explain(&self, e: &GssError, principal: &str) -> String {
        let text = e.text.to_ascii_lowercase();
        let client = self.client_principal.as_deref().unwrap_or("the ticket cache's principal");
        let hint = if text.contains("client") && text.contains("not found in kerberos database") {
            format!("check client-principal: the KDC does not know {client}")
        } else if text.contains("server") && text.contains("not found in kerberos database") {
            format!(
                "check server-principal: the KDC does not know {principal} (it must be the source's agent-principal; \
                 _HOST becomes the host name connected to)"
            )
        } else if text.contains("clock skew") {
            "the clocks of this machine and the KDC differ by more than krb5.conf's clockskew (5 minutes by \
             default): synchronise them (NTP)"
                .to_string()
        } else if text.contains("cannot contact any kdc") || text.contains("cannot find kdc") {
            "the KDC is unreachable: check the kdc entries of the realm in krb5.conf (KRB5_CONFIG) and that the \
             KDC runs and can be reached"
                .to_string()
        } else if text.contains("preauthentication failed")
            || text.contains("password incorrect")
            || text.contains("no key table entry")
            || text.contains("key version")
            || text.contains("decrypt integrity check failed")
        {
            format!(
                "check client-keytab: {} holds no current key of {client} (klist -kt shows its entries; the \
                 principal's keys may have changed since it was made)",
                self.client_keytab.as_deref().map_or("the keytab".into(), |k| k.display().to_string())
            )
        } else if text.contains("expired") {
            if self.client_keytab.is_some() {
                "the ticket expired and could not be renewed from client-keytab".to_string()
            } else {
                "the ticket cache's tickets have expired: renew them (kinit, kinit -R, k5start) or set \
                 client-keytab so the client gets new ones itself"
                    .to_string()
            }
        } else if self.client_keytab.is_some()
            && (text.contains("no credentials") || text.contains("credentials cache"))
        {
            format!(
                "check client-keytab: {} holds no key of {client} (klist -kt shows the principals it holds)",
                self.client_keytab.as_deref().map_or("the keytab".into(), |k| k.display().to_string())
            )
        } else if text.contains("no credentials")
            || text.contains("credentials cache")
            || text.contains("no kerberos credentials")
        {
            "no ticket: run kinit (KRB5CCNAME names the ticket cache), or set client-principal and client-keytab"
                .to_string()
        } else {
            "check client-principal, client-keytab, server-principal and krb5.conf (KRB5_CONFIG)".to_string()
        };
        format!("{} ({hint})", e.text)
    }
}

/// The first step's context, its token, and the credentials it used.
type FirstStep = (Context, Vec<u8>, Arc<Credential>);
/// Why the first step failed: the GSSAPI error if there is one, and the error to report.
type StepFailure = (Option<GssError>, Error);

/// How the helper thread's work failed.
enum Step {
    Name(GssError),
    Acquire(GssError),
    Init(GssError, Arc<Credential>),
}

/// Mutual authentication (the server proves its identity with an AP-REP),
/// and the integrity and confidentiality Java's SASL client also asks for.
const REQUESTED_FLAGS: u32 = gssapi::GSS_C_MUTUAL_FLAG | gssapi::GSS_C_INTEG_FLAG | gssapi::GSS_C_CONF_FLAG;

fn credentials_stale(e: &GssError) -> bool {
    matches!(e.routine(), gssapi::GSS_S_CREDENTIALS_EXPIRED | gssapi::GSS_S_NO_CRED)
        || e.text.to_ascii_lowercase().contains("expired")
}

/// One negotiation in progress.
struct Negotiation<'a> {
    stream: &'a mut dyn Channel,
    host: &'a HostPort,
    principal: &'a str,
    timeout: Duration,
    deadline: Instant,
    /// Received bytes not yet decoded.
    buf: Vec<u8>,
}

impl Negotiation<'_> {
    fn run(
        &mut self,
        mut context: Context,
        first_token: Vec<u8>,
        credential: &Credential,
        target: &Name,
    ) -> Result<()> {
        // START and the initial response in one write, as Java's client does.
        let mut out = Vec::with_capacity(first_token.len() + 16);
        sasl::encode(Status::Start, sasl::MECHANISM, &mut out);
        sasl::encode(Status::Ok, &first_token, &mut out);
        self.send(&out, "sending the SASL START")?;
        // Until the context is established, each server token is answered
        // with the next of ours (mutual authentication: its AP-REP, then an
        // empty OK).
        let offer = loop {
            let (status, payload) = self.receive()?;
            if status != Status::Ok {
                return Err(self.failure(format!("the server sent {status} before the security layer offer")));
            }
            if context.is_established() {
                break payload;
            }
            let token = context
                .step(credential, target, REQUESTED_FLAGS, &payload)
                .map_err(|e| self.failure(format!("the server's Kerberos reply is not valid: {}", e.text)))?;
            if context.is_established() && context.flags() & gssapi::GSS_C_MUTUAL_FLAG == 0 {
                return Err(self.failure("the server did not authenticate itself (no mutual authentication)".into()));
            }
            out.clear();
            sasl::encode(Status::Ok, &token, &mut out);
            self.send(&out, "sending a Kerberos token")?;
        };
        // RFC 4752: the server's offer, wrapped; our choice, wrapped.
        let unwrapped = context
            .unwrap(&offer)
            .map_err(|e| self.failure(format!("cannot unwrap the server's security-layer offer: {}", e.text)))?;
        let layers = sasl::parse_offer(&unwrapped).map_err(|e| self.failure(e))?;
        if layers.layers & sasl::LAYER_NONE == 0 {
            return Err(self.failure(format!(
                "the server requires a SASL security layer (layers 0x{:02x}: QOP auth-int or auth-conf), which \
                 flume-client does not speak; Flume's source uses QOP auth",
                layers.layers
            )));
        }
        let choice = context
            .wrap(&sasl::layer_choice())
            .map_err(|e| self.failure(format!("cannot wrap the security-layer choice: {}", e.text)))?;
        out.clear();
        sasl::encode(Status::Complete, &choice, &mut out);
        self.send(&out, "sending the security-layer choice")?;
        match self.receive()? {
            (Status::Complete, _) => {}
            (status, _) => return Err(self.failure(format!("the server sent {status} instead of COMPLETE"))),
        }
        if !self.buf.is_empty() {
            return Err(self.failure(format!("{} bytes arrived after the server's COMPLETE", self.buf.len())));
        }
        Ok(())
    }

    fn send(&mut self, bytes: &[u8], doing: &str) -> Result<()> {
        self.stream.send(bytes, self.deadline).map_err(|e| self.io_failure(e, doing))
    }

    /// The next message; BAD and ERROR become their reason.
    fn receive(&mut self) -> Result<(Status, Vec<u8>)> {
        loop {
            match sasl::decode(&self.buf) {
                Ok(Some((status, payload, used))) => {
                    let payload = payload.to_vec();
                    self.buf.drain(..used);
                    return match status {
                        Status::Bad | Status::Error => Err(self.failure(format!(
                            "the server refused the authentication ({status}): {} (check that server-principal \
                             is the source's agent-principal and that the source's agent-keytab holds its \
                             current key)",
                            String::from_utf8_lossy(&payload)
                        ))),
                        Status::Start => Err(self.failure("the server sent START".into())),
                        _ => Ok((status, payload)),
                    };
                }
                Ok(None) => {}
                Err(sasl::DecodeError::BadStatus(0)) => {
                    return Err(self.failure(
                        "the server answered with a Thrift frame, not SASL: the source has no kerberos=true \
                         (remove kerberos=true here)"
                            .into(),
                    ))
                }
                Err(sasl::DecodeError::BadStatus(0x15 | 0x16)) => {
                    return Err(
                        self.failure("the server answered with TLS: it is an ssl=true source; set ssl=true".into())
                    )
                }
                Err(e) => return Err(self.failure(format!("{e}: is this a Kerberos (kerberos=true) Flume source?"))),
            }
            let mut buf = std::mem::take(&mut self.buf);
            let received = self.stream.receive_some(&mut buf, self.deadline);
            self.buf = buf;
            received.map_err(|e| self.io_failure(e, "waiting for the server's SASL reply"))?;
        }
    }

    fn failure(&self, what: String) -> Error {
        err!(Connect, "{}: Kerberos (SASL GSSAPI as {}): {what} (nothing was delivered)", self.host, self.principal)
    }

    /// The connection's failure `e` as the negotiation's, keeping its cause.
    fn io_failure(&self, e: Error, doing: &str) -> Error {
        let failure = match e.kind() {
            ErrorKind::Timeout => self.failure(format!(
                "connect-timeout ({} ms) passed while {doing} (does the source have kerberos=true? Flume's plain \
                 source reads the SASL START as the start of a 16 MB frame and waits for the rest)",
                self.timeout.as_millis()
            )),
            ErrorKind::Io if e.message().contains("closed by the server") => self.failure(format!(
                "the server closed the connection while {doing}: a source without kerberos=true closes a \
                 connection that starts with SASL (remove kerberos=true here), and a Kerberos source one it \
                 cannot authenticate ({})",
                e.message()
            )),
            _ => self.failure(format!("{doing}: {}", e.message())),
        };
        failure.with_source_of(&e)
    }
}

/// The in-memory ticket cache of one principal and keytab. Clients with the
/// same two share it, so that a program making many clients holds one TGT,
/// not one per client (MIT keeps a memory cache until the process ends).
fn memory_ccache(principal: &str, keytab: &Path) -> String {
    static CACHES: Mutex<Vec<(String, PathBuf, String)>> = Mutex::new(Vec::new());
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let mut caches = CACHES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, _, name)) = caches.iter().find(|(p, k, _)| p == principal && k == keytab) {
        return name.clone();
    }
    let name = format!("MEMORY:flume-client-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    caches.push((principal.to_string(), keytab.to_path_buf(), name.clone()));
    name
}

/// This machine's name, as `_HOST` in client-principal becomes (Flume uses
/// the canonical name of the local host; the lookup here is the plain
/// `gethostname`, lowercased).
fn local_host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase()
}
