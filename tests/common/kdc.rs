//! A real MIT Kerberos KDC on loopback for the Kerberos tests, made the way
//! MIT's own k5test and PostgreSQL's Kerberos tests make theirs: a temporary
//! realm (`kdb5_util create -s`), principals and keytabs (`kadmin.local`),
//! `krb5kdc -n` listening on a free loopback port, and a krb5.conf naming it
//! (`KRB5_CONFIG`, set for this process and inherited by the servers it
//! starts).
//!
//! One KDC serves a test process (`Kdc::get`); a second one, on a clock 15
//! minutes behind (libfaketime), serves the clock-skew test's realm.
//! Tools: Debian's krb5-kdc, krb5-admin-server, krb5-user and faketime; each
//! overridable by an environment variable (KDB5_UTIL, KADMIN_LOCAL, KRB5KDC,
//! KINIT, FAKETIME). Anything missing fails the test with what to install.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const REALM: &str = "FLUME.TEST";
/// A realm whose KDC runs 15 minutes behind (more than the 5 minutes' clockskew).
pub const SKEW_REALM: &str = "SKEW.TEST";
/// A realm whose KDC is at a loopback port nobody listens on.
pub const DOWN_REALM: &str = "DOWN.TEST";
/// The test sources' principal, as `agent-principal = flume/_HOST@FLUME.TEST`
/// becomes for clients that connect to "localhost".
pub const SERVER_PRINCIPAL: &str = "flume/localhost@FLUME.TEST";
/// Clients' principal, with keytab `Kdc::client_keytab`.
pub const CLIENT_PRINCIPAL: &str = "app@FLUME.TEST";

const INSTALL_HINT: &str =
    "the Kerberos tests need MIT Kerberos' KDC and tools and libfaketime: apt-get install krb5-kdc \
     krb5-admin-server krb5-user faketime (scripts/install-deps.sh does)";

pub struct Kdc {
    pub dir: PathBuf,
    pub krb5_conf: PathBuf,
    kdcs: Vec<Child>,
}

fn tool(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

/// A loopback port free right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run(what: &str, command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e} ({INSTALL_HINT})"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed ({}): {command:?}\n{text}\n({INSTALL_HINT})", out.status);
    text
}

impl Kdc {
    /// This process's KDC, started on first use; KRB5_CONFIG names its krb5.conf from then on.
    pub fn get() -> &'static Kdc {
        static KDC: OnceLock<Kdc> = OnceLock::new();
        KDC.get_or_init(|| {
            let kdc = Kdc::start();
            let _ = KDC_PIDS.set(kdc.kdcs.iter().map(|c| c.id()).collect());
            // SAFETY: registers a plain function that only sends signals.
            unsafe { libc::atexit(stop_kdcs) };
            kdc
        })
    }

    fn start() -> Kdc {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let dir = base.join(format!("kdc-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let skew_port = free_port();
        let down_port = free_port(); // nobody listens there
        let d = dir.display();
        let krb5_conf = dir.join("krb5.conf");
        fs::write(
            &krb5_conf,
            format!(
                "[libdefaults]
    default_realm = {REALM}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 1
    # The client must not correct its clock from the KDC's (MIT's default), or
    # the clock-skew test could not show the error.
    kdc_timesync = 0
    default_ccache_name = FILE:{d}/default.ccache
    permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
    default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
    default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96

[realms]
    {REALM} = {{
        kdc = 127.0.0.1:{port}
    }}
    {SKEW_REALM} = {{
        kdc = 127.0.0.1:{skew_port}
    }}
    {DOWN_REALM} = {{
        kdc = 127.0.0.1:{down_port}
    }}

[domain_realm]
    localhost = {REALM}
"
            ),
        )
        .unwrap();
        let kdc_conf = dir.join("kdc.conf");
        let realm_section = |realm: &str, port: u16| {
            format!(
                "    {realm} = {{
        database_name = {d}/{realm}.db
        key_stash_file = {d}/{realm}.stash
        acl_file = {d}/kadm5.acl
        kdc_listen = 127.0.0.1:{port}
        kdc_tcp_listen = 127.0.0.1:{port}
        max_life = 10h
        max_renewable_life = 1d
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}
"
            )
        };
        fs::write(
            &kdc_conf,
            format!(
                "[kdcdefaults]
    kdc_listen = 127.0.0.1:{port}
    kdc_tcp_listen = 127.0.0.1:{port}

[realms]
{}{}
[logging]
    kdc = FILE:{d}/kdc.log
",
                realm_section(REALM, port),
                realm_section(SKEW_REALM, skew_port)
            ),
        )
        .unwrap();
        fs::write(dir.join("kadm5.acl"), "").unwrap();
        // For this process's GSSAPI and every server and tool it starts.
        std::env::set_var("KRB5_CONFIG", &krb5_conf);
        std::env::set_var("KRB5_KDC_PROFILE", &kdc_conf);
        std::env::set_var("KRB5CCNAME", format!("FILE:{d}/default.ccache"));
        std::env::remove_var("KRB5_CLIENT_KTNAME");
        std::env::remove_var("KRB5_KTNAME");

        let mut kdc = Kdc { dir: dir.clone(), krb5_conf, kdcs: Vec::new() };
        for realm in [REALM, SKEW_REALM] {
            run(
                "kdb5_util create",
                Command::new(tool("KDB5_UTIL", "/usr/sbin/kdb5_util"))
                    .args(["create", "-s", "-W", "-r", realm, "-P", "master-password-for-tests"])
                    .stdin(Stdio::null()),
            );
        }
        kdc.kadmin(REALM, &format!("addprinc -randkey {SERVER_PRINCIPAL}"));
        kdc.kadmin(REALM, &format!("addprinc -randkey +requires_preauth {CLIENT_PRINCIPAL}"));
        kdc.kadmin(REALM, "addprinc -randkey other/localhost");
        kdc.kadmin(REALM, &format!("ktadd -k {d}/server.keytab {SERVER_PRINCIPAL}"));
        kdc.kadmin(REALM, &format!("ktadd -k {d}/app.keytab {CLIENT_PRINCIPAL}"));
        kdc.kadmin(SKEW_REALM, &format!("addprinc -randkey +requires_preauth skewed@{SKEW_REALM}"));
        kdc.kadmin(SKEW_REALM, &format!("ktadd -k {d}/skewed.keytab skewed@{SKEW_REALM}"));

        kdc.start_kdc(REALM, port, None);
        kdc.start_kdc(SKEW_REALM, skew_port, Some("-15m"));
        kdc
    }

    /// Starts `krb5kdc -n` for `realm` (under faketime with `offset`) and waits until it listens.
    fn start_kdc(&mut self, realm: &str, port: u16, offset: Option<&str>) {
        let log = fs::File::create(self.dir.join(format!("krb5kdc-{realm}.out"))).unwrap();
        let krb5kdc = tool("KRB5KDC", "/usr/sbin/krb5kdc");
        let mut command = match offset {
            Some(offset) => {
                let mut c = Command::new(tool("FAKETIME", "faketime"));
                c.arg("-f").arg(offset).arg(&krb5kdc);
                c
            }
            None => Command::new(&krb5kdc),
        };
        command.args(["-n", "-r", realm]).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot run {command:?}: {e} ({INSTALL_HINT})"));
        self.kdcs.push(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = self.kdcs.last_mut().unwrap().try_wait().unwrap() {
                let out = fs::read_to_string(self.dir.join(format!("krb5kdc-{realm}.out"))).unwrap_or_default();
                panic!("krb5kdc for {realm} exited ({status}): {out} ({INSTALL_HINT})");
            }
            assert!(Instant::now() < deadline, "krb5kdc for {realm} does not listen on {port} after 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs one kadmin.local query on `realm`'s database.
    pub fn kadmin(&self, realm: &str, query: &str) -> String {
        run(
            "kadmin.local",
            Command::new(tool("KADMIN_LOCAL", "/usr/sbin/kadmin.local"))
                .args(["-r", realm, "-q", query])
                .stdin(Stdio::null()),
        )
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// The source's keytab (SERVER_PRINCIPAL).
    pub fn server_keytab(&self) -> PathBuf {
        self.path("server.keytab")
    }

    /// The client's keytab (CLIENT_PRINCIPAL).
    pub fn client_keytab(&self) -> PathBuf {
        self.path("app.keytab")
    }

    /// A new principal of REALM (kadmin.local `addprinc` options such as
    /// `-maxlife` in `options`) and a keytab of it; returns the keytab.
    pub fn principal_with_keytab(&self, principal: &str, options: &str) -> PathBuf {
        let name = principal.replace(['/', '@'], "_");
        let keytab = self.path(&format!("{name}.keytab"));
        self.kadmin(REALM, &format!("addprinc -randkey {options} {principal}"));
        self.kadmin(REALM, &format!("ktadd -k {} {principal}", keytab.display()));
        keytab
    }

    /// A keytab for a principal of a realm whose KDC cannot be asked (made
    /// with ktutil from a password).
    pub fn offline_keytab(&self, principal: &str) -> PathBuf {
        let keytab = self.path(&format!("{}.keytab", principal.replace(['/', '@'], "_")));
        let script = format!(
            "addent -password -p {principal} -k 1 -e aes256-cts-hmac-sha1-96\nsome-password\nwkt {}\nquit\n",
            keytab.display()
        );
        let mut child = Command::new(tool("KTUTIL", "ktutil"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run ktutil: {e} ({INSTALL_HINT})"));
        use std::io::Write;
        child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(keytab.is_file(), "ktutil made no {}: {out:?}", keytab.display());
        keytab
    }

    /// `kinit -kt KEYTAB PRINCIPAL` into the ticket cache `ccache` (with `lifetime`, e.g. "1h").
    pub fn kinit(&self, keytab: &Path, principal: &str, ccache: &str, lifetime: &str) {
        run(
            "kinit",
            Command::new(tool("KINIT", "kinit"))
                .args(["-l", lifetime, "-k", "-t"])
                .arg(keytab)
                .arg(principal)
                .env("KRB5CCNAME", ccache),
        );
    }

    /// The KDC's log (for messages of failed tests).
    pub fn log(&self) -> String {
        fs::read_to_string(self.path("kdc.log")).unwrap_or_default()
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        for child in &mut self.kdcs {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The KDCs' process ids, killed when the test process exits (statics are never dropped).
static KDC_PIDS: OnceLock<Vec<u32>> = OnceLock::new();

extern "C" fn stop_kdcs() {
    for pid in KDC_PIDS.get().into_iter().flatten() {
        // SAFETY: signals the KDC processes this test process started.
        unsafe { libc::kill(*pid as i32, libc::SIGTERM) };
    }
}
