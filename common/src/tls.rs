//! TLS in one place: the server's self-signed certificate, rustls configs for both sides,
//! SHA-256 fingerprints and the client's verifier.
//!
//! The verifier accepts a server only if its certificate's fingerprint is pinned, or if it
//! chains to a trusted root (a CA file or the system's roots). There is no other way through:
//! trust on first use is done by the client reading the fingerprint of a *refused* handshake
//! ([`ServerVerifier::presented`]), asking the user, and connecting again with it pinned.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::protocol::ALPN;

/// File names inside the server's certificate directory.
pub const CERT_FILE: &str = "cert.pem";
pub const KEY_FILE: &str = "key.pem";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no usable {what}")]
    Pem { path: PathBuf, what: &'static str },
    #[error("{0} exists but {1} is missing; restore it or remove both to make a new certificate")]
    HalfPair(PathBuf, PathBuf),
    #[error("cannot generate certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("tls configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// SHA-256 of a certificate's DER encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(cert: &CertificateDer<'_>) -> Self {
        Fingerprint(Sha256::digest(cert.as_ref()).into())
    }

    /// Lower-case hex, 64 characters, the form used in links and the known-servers file.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Upper-case hex pairs separated by colons, easier to read aloud and compare.
    pub fn pretty(&self) -> String {
        self.0.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a fingerprint is 64 hex digits (colons and a 'sha256:' prefix are allowed)")]
pub struct BadFingerprint;

impl FromStr for Fingerprint {
    type Err = BadFingerprint;

    /// Accepts `ab12…`, `AB:12:…` and `sha256:ab12…`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let s = s.strip_prefix("sha256:").or_else(|| s.strip_prefix("SHA256:")).unwrap_or(s);
        let digits: String = s.chars().filter(|c| *c != ':').collect();
        let mut out = [0u8; 32];
        hex::decode_to_slice(&digits, &mut out).map_err(|_| BadFingerprint)?;
        Ok(Fingerprint(out))
    }
}

/// A certificate chain and its private key.
#[derive(Debug)]
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// Fingerprint of the end-entity certificate, the one clients pin.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.chain[0])
    }

    /// Loads a PEM certificate chain and key (e.g. issued by a CA).
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let chain = load_certs(cert)?;
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|_| TlsError::Pem { path: key.to_owned(), what: "private key" })?;
        Ok(Identity { chain, key })
    }

    /// Loads `cert.pem`/`key.pem` from `dir`, or makes a self-signed pair for `hostnames` on the
    /// first start. Returns the identity and whether it was just created.
    pub fn load_or_create(dir: &Path, hostnames: &[String]) -> Result<(Self, bool), TlsError> {
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => return Ok((Self::load(&cert_path, &key_path)?, false)),
            (true, false) => return Err(TlsError::HalfPair(cert_path, key_path)),
            (false, true) => return Err(TlsError::HalfPair(key_path, cert_path)),
            (false, false) => {}
        }
        std::fs::create_dir_all(dir)
            .map_err(|source| TlsError::Write { path: dir.to_owned(), source })?;
        let generated = rcgen::generate_simple_self_signed(hostnames.to_vec())?;
        write_private(&key_path, generated.signing_key.serialize_pem().as_bytes(), 0o600)?;
        write_private(&cert_path, generated.cert.pem().as_bytes(), 0o644)?;
        Ok((Self::load(&cert_path, &key_path)?, true))
    }
}

/// Reads every certificate in a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data =
        std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&data).filter_map(Result::ok).collect();
    if certs.is_empty() {
        return Err(TlsError::Pem { path: path.to_owned(), what: "certificate" });
    }
    Ok(certs)
}

/// Writes through a temporary file and a rename, so a crash never leaves half a key behind.
fn write_private(path: &Path, data: &[u8], mode: u32) -> Result<(), TlsError> {
    let tmp = path.with_extension("tmp");
    let err = |source| TlsError::Write { path: path.to_owned(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(err)?;
    file.write_all(data).and_then(|()| file.sync_all()).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3 only, ALPN `quicq/1`.
pub fn server_config(identity: Identity) -> Result<rustls::ServerConfig, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// TLS 1.3 only, with the given verifier and ALPN protocols (normally just [`ALPN`]).
pub fn client_config(
    verifier: Arc<ServerVerifier>,
    alpn: Vec<Vec<u8>>,
) -> Result<rustls::ClientConfig, TlsError> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous() // a custom verifier; it is strict, see ServerVerifier
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn;
    Ok(config)
}

/// Roots a client may trust besides pinned fingerprints.
#[derive(Debug, Clone)]
pub enum Roots {
    /// Only pins: for a self-signed server.
    None,
    /// Certificates from a PEM file: each is trusted as a CA, and a leaf certificate in it is also
    /// pinned exactly (so the server's own `cert.pem` can be handed out as the "CA").
    File(PathBuf),
    /// The operating system's trusted roots, for CA-issued server certificates.
    System,
}

/// The client's certificate verifier; see the module docs.
#[derive(Debug)]
pub struct ServerVerifier {
    pins: Vec<Fingerprint>,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
    presented: Mutex<Option<Fingerprint>>,
}

impl ServerVerifier {
    pub fn new(pin: Option<Fingerprint>, roots: &Roots) -> Result<Self, TlsError> {
        let provider = provider();
        let mut pins: Vec<Fingerprint> = pin.into_iter().collect();
        let mut store = RootCertStore::empty();
        match roots {
            Roots::None => {}
            Roots::File(path) => {
                for cert in load_certs(path)? {
                    pins.push(Fingerprint::of(&cert));
                    // A leaf is not a valid trust anchor; it is still trusted through its pin.
                    let _ = store.add(cert);
                }
            }
            Roots::System => {
                // Unreadable entries are skipped, as every TLS client does; an empty store
                // simply trusts nothing.
                let found = rustls_native_certs::load_native_certs();
                for cert in found.certs {
                    let _ = store.add(cert);
                }
            }
        }
        let webpki = if store.is_empty() {
            None
        } else {
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                    .build()
                    .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?,
            )
        };
        Ok(ServerVerifier {
            pins,
            webpki,
            algorithms: provider.signature_verification_algorithms,
            presented: Mutex::new(None),
        })
    }

    /// Fingerprint of the certificate the server presented in the last handshake, accepted or
    /// not; what a trust-on-first-use prompt shows.
    pub fn presented(&self) -> Option<Fingerprint> {
        *self.presented.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fingerprint = Fingerprint::of(end_entity);
        *self.presented.lock().unwrap_or_else(|e| e.into_inner()) = Some(fingerprint);
        if self.pins.contains(&fingerprint) {
            // Pinned exactly, like SSH: the name is not checked, the key is (the handshake
            // signature below must verify with this certificate's key).
            return Ok(ServerCertVerified::assertion());
        }
        match &self.webpki {
            Some(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Checks that a certificate names `host`; used to warn an operator whose `--hostname` list
/// does not cover the name clients will use.
pub fn certificate_names(cert: &CertificateDer<'_>, host: &str) -> bool {
    let Ok(name) = ServerName::try_from(host.to_owned()) else {
        return false;
    };
    let Ok(parsed) = rustls::server::ParsedCertificate::try_from(cert) else {
        return false;
    };
    verify_server_name(&parsed, &name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_parses_common_spellings() {
        let fp = Fingerprint([0xab; 32]);
        assert_eq!(fp.to_hex().parse::<Fingerprint>().unwrap(), fp);
        assert_eq!(fp.pretty().parse::<Fingerprint>().unwrap(), fp);
        assert_eq!(format!("sha256:{}", fp.to_hex()).parse::<Fingerprint>().unwrap(), fp);
        assert!("abc".parse::<Fingerprint>().is_err());
        assert!("zz".repeat(32).parse::<Fingerprint>().is_err());
    }

    #[test]
    fn self_signed_identity_is_created_once_with_private_key_mode() {
        let dir = tempfile_dir();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let (first, created) = Identity::load_or_create(&dir, &names).unwrap();
        assert!(created);
        let (second, created) = Identity::load_or_create(&dir, &names).unwrap();
        assert!(!created);
        assert_eq!(first.fingerprint(), second.fingerprint());
        assert!(certificate_names(&first.chain[0], "localhost"));
        assert!(certificate_names(&first.chain[0], "127.0.0.1"));
        assert!(!certificate_names(&first.chain[0], "example.org"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_file(dir.join(KEY_FILE)).unwrap();
        assert!(matches!(Identity::load_or_create(&dir, &names), Err(TlsError::HalfPair(..))));
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "quicq-tls-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
