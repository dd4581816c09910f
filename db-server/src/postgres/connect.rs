//! From a connection string to a connection: `postgres://` / `postgresql://` URLs and
//! `key=value` conninfo strings, with libpq's `sslmode` (`disable`, `allow`, `prefer`,
//! `require`, `verify-ca`, `verify-full`) and `sslrootcert`, over rustls on ring.
//!
//! | `sslmode` | TLS | server certificate |
//! |---|---|---|
//! | `disable` | never | |
//! | `allow`, `prefer` (the default) | when the server offers it | not checked |
//! | `require` | always | not checked; with `sslrootcert`, its chain is checked (as libpq does) |
//! | `verify-ca` | always | chain checked against `sslrootcert` |
//! | `verify-full` | always | chain and host name checked |
//!
//! `sslrootcert` is a PEM file of CA certificates; without it, `verify-ca` and
//! `verify-full` use `~/.postgresql/root.crt` as libpq does. The password may come from
//! the string or from `PGPASSWORD`; it never appears in what [`Target`] displays.

use std::{path::PathBuf, str::FromStr, sync::Arc, time::Duration};

use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature},
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How long connecting may take when the string does not say (`connect_timeout`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS requirement of a connection string, libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ssl {
    /// `disable`.
    Disable,
    /// `allow` or `prefer`.
    Prefer,
    /// `require`.
    Require,
    /// `verify-ca`.
    VerifyCa,
    /// `verify-full`.
    VerifyFull,
}

impl FromStr for Ssl {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        Ok(match value {
            "disable" => Self::Disable,
            "allow" | "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                ));
            }
        })
    }
}

/// A parsed connection string: the driver's configuration, the TLS connector it needs,
/// and a description without the password.
#[derive(Clone)]
pub struct Target {
    /// The driver's configuration (its `Debug` hides the password).
    pub config: tokio_postgres::Config,
    /// The TLS requirement.
    pub ssl: Ssl,
    /// The connector for `ssl` (also used for cancel requests).
    pub tls: MakeRustlsConnect,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.redacted())
            .field("ssl", &self.ssl)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// Parses `text` (a URL or a conninfo string). `application_name` is set when the
    /// string has none. Errors never repeat the string (it may hold a password).
    pub fn parse(text: &str, application_name: &str) -> Result<Self, String> {
        let (rest, ssl, rootcert) = take_ssl_options(text.trim())?;
        let mut config = tokio_postgres::Config::from_str(&rest).map_err(|e| {
            format!("the database URL is not valid: {e} (expected postgres://USER@HOST:PORT/DATABASE or key=value pairs)")
        })?;
        let ssl = ssl.unwrap_or(Ssl::Prefer);
        config.ssl_mode(match ssl {
            Ssl::Disable => SslMode::Disable,
            Ssl::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        if config.get_hosts().is_empty() {
            let socket_dir = PathBuf::from("/var/run/postgresql");
            if socket_dir.is_dir() {
                config.host_path(socket_dir);
            } else {
                config.host("localhost");
            }
        }
        if config.get_user().is_none()
            && let Some(user) = std::env::var("PGUSER")
                .ok()
                .or_else(|| std::env::var("USER").ok())
                .or_else(|| std::env::var("LOGNAME").ok())
        {
            config.user(user);
        }
        if config.get_password().is_none()
            && let Ok(password) = std::env::var("PGPASSWORD")
        {
            config.password(password);
        }
        if config.get_application_name().is_none() {
            config.application_name(application_name);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        let tls = connector(ssl, rootcert)?;
        Ok(Self { config, ssl, tls })
    }

    /// The database's name (`db.namespace`); the user's name when the string names none,
    /// as PostgreSQL defaults it.
    pub fn database(&self) -> Option<String> {
        self.config
            .get_dbname()
            .or_else(|| self.config.get_user())
            .map(str::to_owned)
    }

    /// The first host (`server.address`): a name, an address, or a socket directory.
    pub fn host(&self) -> Option<String> {
        self.config.get_hosts().first().map(|host| match host {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
    }

    /// The first port (`server.port`).
    pub fn port(&self) -> u16 {
        self.config.get_ports().first().copied().unwrap_or(5432)
    }

    /// `postgres://USER@HOST:PORT/DATABASE`, never with the password: for logs and errors.
    pub fn redacted(&self) -> String {
        let user = self
            .config
            .get_user()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let host = self.host().unwrap_or_default();
        format!(
            "postgres://{user}{host}:{}/{}",
            self.port(),
            self.database().unwrap_or_default()
        )
    }
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query or a conninfo string (the
/// driver knows neither `verify-*` nor `sslrootcert`), returning the rest unchanged.
fn take_ssl_options(text: &str) -> Result<(String, Option<Ssl>, Option<PathBuf>), String> {
    let mut ssl = None;
    let mut rootcert = None;
    let mut take = |key: &str, value: &str| -> Result<bool, String> {
        match key {
            "sslmode" => ssl = Some(value.parse()?),
            "sslrootcert" => rootcert = Some(PathBuf::from(value)),
            "sslcert" | "sslkey" | "sslpassword" => {
                return Err(format!(
                    "{key} is not supported: db-server does not present client certificates yet; authenticate with a password (PGPASSWORD or the URL)"
                ));
            }
            _ => return Ok(false),
        }
        Ok(true)
    };
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        let Some((base, query)) = text.split_once('?') else {
            return Ok((text.to_owned(), None, None));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !take(&percent_decode(key), &percent_decode(value))? {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, ssl, rootcert));
    }
    // conninfo: key = value pairs, values optionally single-quoted with \' and \\.
    let mut kept = String::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            // The word is not echoed: after a value with an unescaped space it is part of
            // that value, which may be the password.
            return Err(
                "the database URL is not valid: a word without `=value` (expected key=value pairs, values with spaces quoted, or postgres://...)".into(),
            );
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut raw = String::new();
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            raw.push(chars.next().unwrap_or('\''));
            while let Some(c) = chars.next() {
                raw.push(c);
                match c {
                    '\\' => {
                        if let Some(next) = chars.next() {
                            raw.push(next);
                            value.push(next);
                        }
                    }
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            // Unquoted, a backslash escapes the next character (`a\ b`), as libpq reads it.
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                raw.push(c);
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        raw.push(next);
                        value.push(next);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        if !take(&key, &value)? {
            if !kept.is_empty() {
                kept.push(' ');
            }
            kept.push_str(&key);
            kept.push('=');
            kept.push_str(&raw);
        }
    }
    Ok((kept, ssl, rootcert))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls connector for `ssl`.
fn connector(ssl: Ssl, rootcert: Option<PathBuf>) -> Result<MakeRustlsConnect, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let rootcert = match (ssl, rootcert) {
        (_, Some(path)) => Some(path),
        (Ssl::VerifyCa | Ssl::VerifyFull, None) => {
            let default = std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".postgresql/root.crt"))
                .filter(|p| p.is_file());
            Some(default.ok_or(
                "sslmode=verify-ca and verify-full need the CA certificate: add sslrootcert=/path/to/ca.pem to the database URL",
            )?)
        }
        (_, None) => None,
    };
    let config = match (ssl, rootcert) {
        (Ssl::Disable | Ssl::Prefer, _) | (Ssl::Require, None) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth(),
        (mode, Some(path)) => {
            let roots = load_roots(&path)?;
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            if mode == Ssl::VerifyFull {
                builder.with_webpki_verifier(webpki).with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
                    .with_no_client_auth()
            }
        }
        (Ssl::VerifyCa | Ssl::VerifyFull, None) => {
            unreachable!("a root certificate was found above")
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

fn load_roots(path: &std::path::Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "sslrootcert {}: no certificate in the file",
            path.display()
        ));
    }
    Ok(roots)
}

/// `prefer` and `require` without a root certificate: the connection is encrypted, the
/// server's certificate is not checked (libpq's behaviour). Signatures are still verified,
/// so the handshake itself is sound.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to the root certificate; the host name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_conninfo_parse_without_echoing_the_password() {
        let t = Target::parse(
            "postgres://reader:s3cret@db.example:6543/sales?sslmode=require&connect_timeout=3",
            "db-server",
        )
        .unwrap();
        assert_eq!(t.ssl, Ssl::Require);
        assert_eq!(t.redacted(), "postgres://reader@db.example:6543/sales");
        assert_eq!(t.config.get_application_name(), Some("db-server"));
        assert_eq!(
            t.config.get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
        assert!(!format!("{t:?}").contains("s3cret"));

        let t = Target::parse(
            "host=127.0.0.1 port=5433 user=reader password='a \\' b' dbname=sales application_name=mine sslmode=disable",
            "db-server",
        )
        .unwrap();
        assert_eq!(t.ssl, Ssl::Disable);
        assert_eq!(t.config.get_password(), Some(&b"a ' b"[..]));
        assert_eq!(t.config.get_application_name(), Some("mine"));
        assert_eq!(t.port(), 5433);
    }

    #[test]
    fn bad_strings_say_why_and_hide_the_password() {
        let error = Target::parse("postgres://u:hunter2@h/db?sslmode=sometimes", "x").unwrap_err();
        assert!(error.contains("sslmode=sometimes"), "{error}");
        assert!(!error.contains("hunter2"));
        let error = Target::parse("postgres://u:hunter2@h/db?bogus=1", "x").unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
        let error = Target::parse(
            "postgres://u:hunter2@h/db?sslmode=verify-full&sslrootcert=/nonexistent",
            "x",
        )
        .unwrap_err();
        assert!(error.contains("/nonexistent"), "{error}");
        assert!(!error.contains("hunter2"));
        // An unescaped space in a password: the rest of it is never echoed.
        let error =
            Target::parse("host=h user=u password=abc s3cretpart dbname=d", "x").unwrap_err();
        assert!(!error.contains("s3cretpart"), "{error}");
        let t =
            Target::parse("host=h user=u password=a\\ b dbname=d sslmode=disable", "x").unwrap();
        assert_eq!(t.config.get_password(), Some(&b"a b"[..]));
        let error = Target::parse("host=h sslcert=/c.pem", "x").unwrap_err();
        assert!(error.contains("client certificates"), "{error}");
    }
}
