//! MIT Kerberos' GSSAPI (`libgssapi_krb5.so.2`), loaded at run time with
//! `dlopen` so that the library links nothing new and a machine without it
//! gets a clear error instead of a failed load of the whole library.
//!
//! Only the calls the SASL GSSAPI mechanism needs are bound. The library is
//! loaded once per process and never unloaded (credentials and contexts may
//! outlive any one client, and MIT's library keeps process-wide state).
//! Handles are owned by the wrappers below, which release them on drop.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;
use std::sync::OnceLock;

/// The soname loaded (Debian, Ubuntu: package libgssapi-krb5-2; Fedora, RHEL: krb5-libs).
pub(crate) const LIBRARY: &str = "libgssapi_krb5.so.2";

/// What to install when `LIBRARY` is missing.
pub(crate) const INSTALL_HINT: &str =
    "install MIT Kerberos' GSSAPI library: libgssapi-krb5-2 on Debian and Ubuntu, krb5-libs on Fedora and RHEL";

type OmUint32 = u32;

#[repr(C)]
struct BufferDesc {
    length: usize,
    value: *mut c_void,
}

impl BufferDesc {
    const EMPTY: BufferDesc = BufferDesc { length: 0, value: ptr::null_mut() };

    fn borrowing(bytes: &[u8]) -> BufferDesc {
        BufferDesc { length: bytes.len(), value: bytes.as_ptr() as *mut c_void }
    }
}

#[repr(C)]
struct OidDesc {
    length: OmUint32,
    elements: *const c_void,
}

#[repr(C)]
struct OidSetDesc {
    count: usize,
    elements: *const OidDesc,
}

#[repr(C)]
struct KeyValueElement {
    key: *const c_char,
    value: *const c_char,
}

#[repr(C)]
struct KeyValueSet {
    count: OmUint32,
    elements: *const KeyValueElement,
}

type Handle = *mut c_void;

/// RFC 2744 constants.
const GSS_S_COMPLETE: OmUint32 = 0;
const GSS_S_CONTINUE_NEEDED: OmUint32 = 1;
const GSS_C_GSS_CODE: c_int = 1;
const GSS_C_MECH_CODE: c_int = 2;
const GSS_C_INITIATE: c_int = 1;
const GSS_C_INDEFINITE: OmUint32 = 0xffff_ffff;
pub(crate) const GSS_C_MUTUAL_FLAG: OmUint32 = 2;
pub(crate) const GSS_C_CONF_FLAG: OmUint32 = 16;
pub(crate) const GSS_C_INTEG_FLAG: OmUint32 = 32;
/// The routine-error field of a major status (RFC 2744 section 3.9.1).
const ROUTINE_ERROR_MASK: OmUint32 = 0xff << 16;
pub(crate) const GSS_S_NO_CRED: OmUint32 = 7 << 16;
pub(crate) const GSS_S_CREDENTIALS_EXPIRED: OmUint32 = 11 << 16;

/// The Kerberos 5 mechanism, 1.2.840.113554.1.2.2.
static KRB5_MECH: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// GSS_KRB5_NT_PRINCIPAL_NAME, 1.2.840.113554.1.2.2.1: "service/host@REALM".
static NT_KRB5_PRINCIPAL: [u8; 10] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01];
/// GSS_C_NT_HOSTBASED_SERVICE, 1.2.840.113554.1.2.1.4: "service@host".
static NT_HOSTBASED_SERVICE: [u8; 10] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x01, 0x04];

fn oid(bytes: &'static [u8]) -> OidDesc {
    OidDesc { length: bytes.len() as OmUint32, elements: bytes.as_ptr().cast() }
}

type ImportName = unsafe extern "C" fn(*mut OmUint32, *const BufferDesc, *const OidDesc, *mut Handle) -> OmUint32;
type ReleaseName = unsafe extern "C" fn(*mut OmUint32, *mut Handle) -> OmUint32;
type AcquireCredFrom = unsafe extern "C" fn(
    *mut OmUint32,
    Handle,
    OmUint32,
    *const OidSetDesc,
    c_int,
    *const KeyValueSet,
    *mut Handle,
    *mut *mut OidSetDesc,
    *mut OmUint32,
) -> OmUint32;
type ReleaseCred = unsafe extern "C" fn(*mut OmUint32, *mut Handle) -> OmUint32;
type InitSecContext = unsafe extern "C" fn(
    *mut OmUint32,
    Handle,
    *mut Handle,
    Handle,
    *const OidDesc,
    OmUint32,
    OmUint32,
    *const c_void,
    *const BufferDesc,
    *mut *mut OidDesc,
    *mut BufferDesc,
    *mut OmUint32,
    *mut OmUint32,
) -> OmUint32;
type DeleteSecContext = unsafe extern "C" fn(*mut OmUint32, *mut Handle, *mut BufferDesc) -> OmUint32;
type Wrap = unsafe extern "C" fn(
    *mut OmUint32,
    Handle,
    c_int,
    OmUint32,
    *const BufferDesc,
    *mut c_int,
    *mut BufferDesc,
) -> OmUint32;
type Unwrap = unsafe extern "C" fn(
    *mut OmUint32,
    Handle,
    *const BufferDesc,
    *mut BufferDesc,
    *mut c_int,
    *mut OmUint32,
) -> OmUint32;
type DisplayStatus =
    unsafe extern "C" fn(*mut OmUint32, OmUint32, c_int, *const OidDesc, *mut OmUint32, *mut BufferDesc) -> OmUint32;
type ReleaseBuffer = unsafe extern "C" fn(*mut OmUint32, *mut BufferDesc) -> OmUint32;

/// The bound functions of the loaded library.
pub(crate) struct Gss {
    import_name: ImportName,
    release_name: ReleaseName,
    acquire_cred_from: AcquireCredFrom,
    release_cred: ReleaseCred,
    init_sec_context: InitSecContext,
    delete_sec_context: DeleteSecContext,
    wrap: Wrap,
    unwrap: Unwrap,
    display_status: DisplayStatus,
    release_buffer: ReleaseBuffer,
}

/// The library, loaded on first use; `Err` says why it cannot be (and what to install).
pub(crate) fn load() -> Result<&'static Gss, String> {
    static GSS: OnceLock<Result<Gss, String>> = OnceLock::new();
    GSS.get_or_init(open).as_ref().map_err(Clone::clone)
}

/// The environment variable naming another GSSAPI library to load instead
/// (a path, or a soname the loader finds), e.g. an MIT build under /opt.
pub(crate) const LIBRARY_VARIABLE: &str = "FLUME_CLIENT_GSSAPI_LIBRARY";

fn open() -> Result<Gss, String> {
    let library = std::env::var(LIBRARY_VARIABLE).unwrap_or_else(|_| LIBRARY.to_string());
    let name = CString::new(library.as_str()).map_err(|_| format!("{LIBRARY_VARIABLE} holds a NUL byte"))?;
    // SAFETY: dlopen with a valid C string; the handle is kept for the process's life.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(format!("cannot load {library} ({}): {INSTALL_HINT}", dlerror()));
    }
    macro_rules! bind {
        ($name:literal, $type:ty) => {{
            let symbol = CString::new($name).expect("no NUL");
            // SAFETY: looks a symbol up in a library that stays loaded.
            let address = unsafe { libc::dlsym(handle, symbol.as_ptr()) };
            if address.is_null() {
                return Err(format!(
                    "{library} has no {} ({}): it is not MIT Kerberos 1.11 or later; {INSTALL_HINT}",
                    $name,
                    dlerror()
                ));
            }
            // SAFETY: the symbol is the RFC 2744 / MIT function of that name,
            // whose C signature the target type spells out.
            unsafe { std::mem::transmute::<*mut c_void, $type>(address) }
        }};
    }
    Ok(Gss {
        import_name: bind!("gss_import_name", ImportName),
        release_name: bind!("gss_release_name", ReleaseName),
        acquire_cred_from: bind!("gss_acquire_cred_from", AcquireCredFrom),
        release_cred: bind!("gss_release_cred", ReleaseCred),
        init_sec_context: bind!("gss_init_sec_context", InitSecContext),
        delete_sec_context: bind!("gss_delete_sec_context", DeleteSecContext),
        wrap: bind!("gss_wrap", Wrap),
        unwrap: bind!("gss_unwrap", Unwrap),
        display_status: bind!("gss_display_status", DisplayStatus),
        release_buffer: bind!("gss_release_buffer", ReleaseBuffer),
    })
}

fn dlerror() -> String {
    // SAFETY: dlerror returns NULL or a C string valid until the next dl call on this thread.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        "no reason given".to_string()
    } else {
        unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
    }
}

/// A failed GSSAPI call: its status codes and their text from `gss_display_status`.
#[derive(Debug)]
pub(crate) struct GssError {
    pub(crate) major: OmUint32,
    pub(crate) text: String,
}

impl GssError {
    /// The routine error of the major status (e.g. `GSS_S_CREDENTIALS_EXPIRED`).
    pub(crate) fn routine(&self) -> OmUint32 {
        self.major & ROUTINE_ERROR_MASK
    }
}

impl Gss {
    fn error(&self, major: OmUint32, minor: OmUint32) -> GssError {
        let mut parts = self.display(major, GSS_C_GSS_CODE);
        let mech = self.display(minor, GSS_C_MECH_CODE);
        if minor != 0 && !mech.is_empty() {
            // MIT's text for GSS_S_FAILURE only points at the minor code: say the minor's text alone.
            parts = if parts.is_empty() || parts.starts_with("Unspecified GSS failure") {
                mech
            } else {
                format!("{parts}: {mech}")
            };
        }
        GssError { major, text: parts }
    }

    /// Every message of one status value, joined.
    fn display(&self, status: OmUint32, kind: c_int) -> String {
        let mech = oid(&KRB5_MECH);
        let mut messages = Vec::new();
        let mut context: OmUint32 = 0;
        loop {
            let mut minor = 0;
            let mut buffer = BufferDesc::EMPTY;
            // SAFETY: valid out-pointers; the buffer is released below.
            let major = unsafe { (self.display_status)(&mut minor, status, kind, &mech, &mut context, &mut buffer) };
            if major != GSS_S_COMPLETE {
                break;
            }
            let text = self.take_buffer(&mut buffer);
            let text = String::from_utf8_lossy(&text).trim().to_string();
            if !text.is_empty() && !messages.contains(&text) {
                messages.push(text);
            }
            if context == 0 || messages.len() > 8 {
                break;
            }
        }
        messages.join("; ")
    }

    /// Copies a buffer the library allocated, then releases it.
    fn take_buffer(&self, buffer: &mut BufferDesc) -> Vec<u8> {
        let bytes = if buffer.value.is_null() || buffer.length == 0 {
            Vec::new()
        } else {
            // SAFETY: the library wrote `length` bytes at `value`.
            unsafe { std::slice::from_raw_parts(buffer.value as *const u8, buffer.length) }.to_vec()
        };
        let mut minor = 0;
        // SAFETY: a buffer the library allocated (or an empty one, which it ignores).
        unsafe { (self.release_buffer)(&mut minor, buffer) };
        bytes
    }
}

/// An imported name (`gss_name_t`).
pub(crate) struct Name {
    gss: &'static Gss,
    handle: Handle,
}

// SAFETY: a GSSAPI name is immutable once imported; MIT's library may be used from any thread.
unsafe impl Send for Name {}
unsafe impl Sync for Name {}

impl Name {
    /// A Kerberos principal, "primary/instance@REALM" (the realm optional).
    pub(crate) fn principal(gss: &'static Gss, text: &str) -> Result<Name, GssError> {
        Name::import(gss, text, &NT_KRB5_PRINCIPAL)
    }

    /// A host-based service, "service@host": the realm comes from krb5.conf's domain_realm.
    pub(crate) fn host_based(gss: &'static Gss, text: &str) -> Result<Name, GssError> {
        Name::import(gss, text, &NT_HOSTBASED_SERVICE)
    }

    fn import(gss: &'static Gss, text: &str, kind: &'static [u8]) -> Result<Name, GssError> {
        let buffer = BufferDesc::borrowing(text.as_bytes());
        let kind = oid(kind);
        let mut minor = 0;
        let mut handle: Handle = ptr::null_mut();
        // SAFETY: valid input buffer and OID; `handle` receives a name we own.
        let major = unsafe { (gss.import_name)(&mut minor, &buffer, &kind, &mut handle) };
        if major != GSS_S_COMPLETE {
            return Err(gss.error(major, minor));
        }
        Ok(Name { gss, handle })
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: a name we own, released once.
        unsafe { (self.gss.release_name)(&mut minor, &mut self.handle) };
    }
}

/// Initiator credentials (`gss_cred_id_t`).
pub(crate) struct Credential {
    gss: &'static Gss,
    handle: Handle,
}

// SAFETY: MIT's credentials lock themselves; they may be shared by contexts on several threads.
unsafe impl Send for Credential {}
unsafe impl Sync for Credential {}

impl Credential {
    /// Initiator credentials for `name` (the default principal when `None`),
    /// from the credential store `store` (MIT's keys: `client_keytab`,
    /// `ccache`, `keytab`); an empty store means the default ticket cache
    /// (`KRB5CCNAME`) and client keytab (`KRB5_CLIENT_KTNAME`).
    pub(crate) fn acquire(
        gss: &'static Gss,
        name: Option<&Name>,
        store: &[(&str, &str)],
    ) -> Result<Credential, GssError> {
        let owned: Vec<(CString, CString)> = store
            .iter()
            .map(|(k, v)| {
                (CString::new(*k).expect("no NUL in a key"), CString::new(*v).unwrap_or_else(|_| CString::default()))
            })
            .collect();
        let elements: Vec<KeyValueElement> =
            owned.iter().map(|(k, v)| KeyValueElement { key: k.as_ptr(), value: v.as_ptr() }).collect();
        let set = KeyValueSet { count: elements.len() as OmUint32, elements: elements.as_ptr() };
        let mech = oid(&KRB5_MECH);
        let mechs = OidSetDesc { count: 1, elements: &mech };
        let mut minor = 0;
        let mut handle: Handle = ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `handle` receives credentials we own.
        let major = unsafe {
            (gss.acquire_cred_from)(
                &mut minor,
                name.map_or(ptr::null_mut(), |n| n.handle),
                GSS_C_INDEFINITE,
                &mechs,
                GSS_C_INITIATE,
                if elements.is_empty() { ptr::null() } else { &set },
                &mut handle,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if major != GSS_S_COMPLETE {
            return Err(gss.error(major, minor));
        }
        Ok(Credential { gss, handle })
    }
}

impl Drop for Credential {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: credentials we own, released once.
        unsafe { (self.gss.release_cred)(&mut minor, &mut self.handle) };
    }
}

/// A security context being established, then established (`gss_ctx_id_t`).
pub(crate) struct Context {
    gss: &'static Gss,
    handle: Handle,
    established: bool,
    flags: OmUint32,
}

// SAFETY: a context is used by one thread at a time (it moves from the
// thread that asks the KDC to the connection's); MIT's library allows that.
unsafe impl Send for Context {}

impl Context {
    pub(crate) fn new(gss: &'static Gss) -> Context {
        Context { gss, handle: ptr::null_mut(), established: false, flags: 0 }
    }

    pub(crate) fn is_established(&self) -> bool {
        self.established
    }

    /// The flags the established context has (`GSS_C_MUTUAL_FLAG`, ...).
    pub(crate) fn flags(&self) -> OmUint32 {
        self.flags
    }

    /// One step of `gss_init_sec_context`: the token to send (possibly empty).
    pub(crate) fn step(
        &mut self,
        credential: &Credential,
        target: &Name,
        flags: OmUint32,
        input: &[u8],
    ) -> Result<Vec<u8>, GssError> {
        let gss = self.gss;
        let mech = oid(&KRB5_MECH);
        let input = BufferDesc::borrowing(input);
        let mut output = BufferDesc::EMPTY;
        let mut minor = 0;
        let mut ret_flags = 0;
        // SAFETY: valid handles and buffers; the context handle is ours (created
        // by the first call), the output buffer is released by take_buffer.
        let major = unsafe {
            (gss.init_sec_context)(
                &mut minor,
                credential.handle,
                &mut self.handle,
                target.handle,
                &mech,
                flags,
                0,
                ptr::null(),
                &input,
                ptr::null_mut(),
                &mut output,
                &mut ret_flags,
                ptr::null_mut(),
            )
        };
        let token = gss.take_buffer(&mut output);
        match major {
            GSS_S_COMPLETE => {
                self.established = true;
                self.flags = ret_flags;
                Ok(token)
            }
            GSS_S_CONTINUE_NEEDED => Ok(token),
            _ => Err(gss.error(major, minor)),
        }
    }

    /// `gss_wrap` without confidentiality (integrity only), as RFC 4752's last step asks.
    pub(crate) fn wrap(&self, message: &[u8]) -> Result<Vec<u8>, GssError> {
        let input = BufferDesc::borrowing(message);
        let mut output = BufferDesc::EMPTY;
        let mut minor = 0;
        let mut conf_state = 0;
        // SAFETY: an established context, valid buffers; the output is released by take_buffer.
        let major = unsafe { (self.gss.wrap)(&mut minor, self.handle, 0, 0, &input, &mut conf_state, &mut output) };
        let token = self.gss.take_buffer(&mut output);
        if major != GSS_S_COMPLETE {
            return Err(self.gss.error(major, minor));
        }
        Ok(token)
    }

    /// `gss_unwrap`: the message of a wrap token, its integrity checked.
    pub(crate) fn unwrap(&self, token: &[u8]) -> Result<Vec<u8>, GssError> {
        let input = BufferDesc::borrowing(token);
        let mut output = BufferDesc::EMPTY;
        let mut minor = 0;
        let mut conf_state = 0;
        let mut qop = 0;
        // SAFETY: as in wrap.
        let major =
            unsafe { (self.gss.unwrap)(&mut minor, self.handle, &input, &mut output, &mut conf_state, &mut qop) };
        let message = self.gss.take_buffer(&mut output);
        if major != GSS_S_COMPLETE {
            return Err(self.gss.error(major, minor));
        }
        Ok(message)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if !self.handle.is_null() {
            let mut minor = 0;
            // SAFETY: a context we own, deleted once; no output token wanted.
            unsafe { (self.gss.delete_sec_context)(&mut minor, &mut self.handle, ptr::null_mut()) };
        }
    }
}
