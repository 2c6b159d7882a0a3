//! Generates the C header with cbindgen into `$OUT_DIR/flume_client.h`, and
//! gives the shared library a SONAME carrying the major version.
//!
//! The committed copy, `include/flume_client.h`, is rewritten only when
//! `FLUME_CLIENT_UPDATE_HEADER=1` is set, so a read-only source tree builds;
//! the test `header_is_up_to_date` fails when the two differ.

use std::env;
use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let major = env::var("CARGO_PKG_VERSION_MAJOR").unwrap();

    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libflume_client.so.{major}");
    }
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=FLUME_CLIENT_UPDATE_HEADER");

    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    config.after_includes = Some(version_macros());
    let header = out_dir.join("flume_client.h");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header")
        .write(&mut generated);
    let generated = c89_comments(&String::from_utf8(generated).expect("cbindgen writes UTF-8"));
    if std::fs::read_to_string(&header).ok().as_deref() != Some(generated.as_str()) {
        std::fs::write(&header, generated).expect("write the generated header");
    }

    if env::var("FLUME_CLIENT_UPDATE_HEADER").as_deref() == Ok("1") {
        let committed = crate_dir.join("include/flume_client.h");
        if let Err(e) =
            std::fs::create_dir_all(committed.parent().unwrap()).and_then(|_| std::fs::copy(&header, &committed))
        {
            println!("cargo:warning=could not update {}: {e}", committed.display());
        }
    }
}

/// cbindgen closes its `extern "C"` guards with `//` comments, which C89
/// (`gcc -std=c89 -pedantic-errors`) refuses: the header uses `/* */` only.
fn c89_comments(header: &str) -> String {
    header.replace("// __cplusplus", "/* __cplusplus */").replace("// extern \"C\"", "/* extern \"C\" */")
}

fn version_macros() -> String {
    let v = |part: &str| env::var(format!("CARGO_PKG_VERSION_{part}")).unwrap();
    format!(
        "\n/** The version of this header, from Cargo.toml. Compare with flume_version() at run time. */\n\
         #define FLUME_CLIENT_VERSION \"{}\"\n\
         #define FLUME_CLIENT_VERSION_MAJOR {}\n\
         #define FLUME_CLIENT_VERSION_MINOR {}\n\
         #define FLUME_CLIENT_VERSION_PATCH {}\n",
        env::var("CARGO_PKG_VERSION").unwrap(),
        v("MAJOR"),
        v("MINOR"),
        v("PATCH")
    )
}
