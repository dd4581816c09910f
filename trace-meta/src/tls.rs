//! The process's rustls crypto provider (feature `tls-ring`).
//!
//! rustls needs one crypto provider per process, and reqwest (built with
//! `rustls-no-provider`, as here) does not pick one: the application does. This is the one
//! place in the workspace that installs ring; telemetry calls it when an `https://`
//! exporter is built, and a host that opens HTTPS connections of its own calls it at start.

/// Installs ring as the process's rustls crypto provider, unless one is installed already
/// (by the application, or by an earlier call); either way a provider is installed when it
/// returns. Safe to call from any thread, any number of times.
///
/// Call it before building an HTTPS client (reqwest panics on building one without a
/// provider). An application that prefers another provider (aws-lc-rs, a FIPS build)
/// installs that one first, with `rustls::crypto::CryptoProvider::install_default`, and
/// this then does nothing.
///
/// ```
/// trace_meta::install_tls_provider();
/// trace_meta::install_tls_provider(); // nothing more happens
/// ```
pub fn install_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may have won the race; either way a provider is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
