//! A local certificate authority for development and tests.
//!
//! Owns the files under a certs folder: `dev-ca.crt` (to trust in a browser), its key, and a
//! server certificate signed by it. The CA is kept between runs so a browser that trusts it
//! once keeps trusting it; the server certificate is issued anew when missing, when its names
//! change, or when it nears expiry. Keys are written readable by the owner only.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::config::CertificateFiles;

const CA_NAME: &str = "Portcullis development CA";

/// A problem creating or writing development certificates.
#[derive(Debug, thiserror::Error)]
pub enum DevCaError {
    /// Generating or signing failed.
    #[error("generating a development certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file could not be read or written.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The files of a development CA and the server certificate it issued.
#[derive(Clone, Debug)]
pub struct DevCertificates {
    /// The CA certificate, to trust in a browser or give to `curl --cacert`.
    pub ca_cert: PathBuf,
    /// The server certificate and key for the gateway.
    pub server: CertificateFiles,
}

/// Makes sure `dir` holds a CA and a server certificate for `names` (DNS names or IPs).
///
/// # Errors
/// If generating fails or a file cannot be read or written.
pub fn ensure(dir: &Path, names: &[&str]) -> Result<DevCertificates, DevCaError> {
    fs::create_dir_all(dir).map_err(|source| DevCaError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let ca_cert = dir.join("dev-ca.crt");
    let ca_key_path = dir.join("dev-ca.key");
    let ca_key = match fs::read_to_string(&ca_key_path) {
        Ok(pem) if ca_cert.exists() => KeyPair::from_pem(&pem)?,
        _ => {
            let key = KeyPair::generate()?;
            let cert = ca_params().self_signed(&key)?;
            write(&ca_key_path, &key.serialize_pem(), true)?;
            write(&ca_cert, &cert.pem(), false)?;
            key
        }
    };
    let server = CertificateFiles {
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    };
    let names_file = dir.join("server.names");
    let wanted = names.join("\n");
    let current = fs::read_to_string(&names_file).unwrap_or_default();
    if current != wanted || !server.cert.exists() || !server.key.exists() || expiring(dir) {
        issue(&Issuer::new(ca_params(), ca_key), names, &server)?;
        write(&names_file, &wanted, false)?;
    }
    Ok(DevCertificates { ca_cert, server })
}

/// Issues a server certificate for `names` signed by a fresh throwaway CA, for tests.
///
/// # Errors
/// If generating fails or a file cannot be written.
pub fn issue_with_new_ca(
    dir: &Path,
    stem: &str,
    names: &[&str],
) -> Result<DevCertificates, DevCaError> {
    fs::create_dir_all(dir).map_err(|source| DevCaError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let key = KeyPair::generate()?;
    let params = ca_params();
    let ca_cert = dir.join(format!("{stem}-ca.crt"));
    write(&ca_cert, &params.self_signed(&key)?.pem(), false)?;
    let server = CertificateFiles {
        cert: dir.join(format!("{stem}.crt")),
        key: dir.join(format!("{stem}.key")),
    };
    issue(&Issuer::new(params, key), names, &server)?;
    Ok(DevCertificates { ca_cert, server })
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CA_NAME);
    name.push(DnType::OrganizationName, "Portcullis");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    params
}

fn issue(
    issuer: &Issuer<'_, KeyPair>,
    names: &[&str],
    files: &CertificateFiles,
) -> Result<(), DevCaError> {
    let mut params = CertificateParams::default();
    params.subject_alt_names = names
        .iter()
        .map(|name| san(name))
        .collect::<Result<_, _>>()?;
    let mut subject = DistinguishedName::new();
    subject.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("localhost"),
    );
    params.distinguished_name = subject;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(365);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    write(&files.key, &key.serialize_pem(), true)?;
    write(&files.cert, &cert.pem(), false)
}

fn san(name: &str) -> Result<SanType, rcgen::Error> {
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) => Ok(SanType::IpAddress(ip)),
        Err(_) => Ok(SanType::DnsName(name.try_into()?)),
    }
}

/// Whether the server certificate in `dir` was issued more than 300 days ago.
fn expiring(dir: &Path) -> bool {
    let issued = fs::metadata(dir.join("server.crt")).and_then(|meta| meta.modified());
    issued
        .ok()
        .and_then(|time| time.elapsed().ok())
        .is_none_or(|age| age > std::time::Duration::from_secs(300 * 24 * 3600))
}

fn write(path: &Path, contents: &str, private: bool) -> Result<(), DevCaError> {
    let failure = |source| DevCaError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options.open(path).map_err(failure)?;
    file.write_all(contents.as_bytes()).map_err(failure)
}
