//! TLS to the broker through rustls (ring provider): the CA that signs the broker's certificate,
//! and optionally a client certificate and key. Read and checked when the config is loaded, so a
//! wrong file is refused by `anttd check` and at start, naming its key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// A TLS file that cannot be used, with the config key that names it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct TlsError {
    /// `ca_file`, `client_cert` or `client_key` (below `mqtt.tls`).
    pub key: &'static str,
    pub path: PathBuf,
    pub message: String,
}

fn err(key: &'static str, path: &Path, message: impl Into<String>) -> TlsError {
    TlsError { key, path: path.to_path_buf(), message: message.into() }
}

fn certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    std::fs::metadata(path).map_err(|e| err(key, path, format!("cannot read: {e}")))?;
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| err(key, path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(err(key, path, "no certificate in it (expected PEM `-----BEGIN CERTIFICATE-----`)"));
    }
    Ok(certs)
}

/// The rustls client configuration for `ca_file` and the optional client certificate and key.
pub fn client_config(ca_file: &Path, client: Option<(&Path, &Path)>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in certs("ca_file", ca_file)? {
        roots.add(c).map_err(|e| err("ca_file", ca_file, format!("not a usable CA certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err("ca_file", ca_file, format!("no TLS version available: {e}")))?
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = certs("client_cert", cert)?;
            std::fs::metadata(key).map_err(|e| err("client_key", key, format!("cannot read: {e}")))?;
            let pk = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| err("client_key", key, format!("no PEM private key in it: {e}")))?;
            builder
                .with_client_auth_cert(chain, pk)
                .map_err(|e| err("client_key", key, format!("does not go with client_cert: {e}")))?
        }
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_files_name_their_key() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = dir.path().join("absent.pem");
        let e = client_config(&missing, None).expect_err("missing");
        assert_eq!(e.key, "ca_file");
        assert!(e.to_string().contains("absent.pem") && e.to_string().contains("cannot read"), "{e}");

        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello\n").expect("write");
        let e = client_config(&junk, None).expect_err("junk");
        assert!(e.message.contains("no certificate"), "{e}");

        let garbled = dir.path().join("garbled.pem");
        std::fs::write(&garbled, "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n").expect("w");
        let e = client_config(&garbled, None).expect_err("garbled");
        assert_eq!(e.key, "ca_file", "{e}");
    }
}
