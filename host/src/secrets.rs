//! Secrets at rest. A secret a customer gives Pushrail (an access key, a
//! SASL password) is stored sealed: XChaCha20-Poly1305 under a master key,
//! the ciphertext tagged with the key's id and bound, as associated data,
//! to where it belongs (customer, destination, field) — a ciphertext copied
//! into another row does not open. Master keys come from `[security]
//! master_keys`; without them, from a key file in the data directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::config::Secret;

/// The format tag of a sealed value: `pr1.<key id>.<nonce and ciphertext>`.
const VERSION: &str = "pr1";
/// Bytes of an XChaCha20-Poly1305 nonce.
const NONCE_BYTES: usize = 24;
/// The id of the key kept in the data directory when none is configured.
pub const LOCAL_KEY_ID: &str = "local";
/// Its file, beside the log.
pub const LOCAL_KEY_FILE: &str = "master.key";

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("not a sealed secret")]
    Malformed,
    #[error("sealed under key \"{0}\", which is not among security.master_keys")]
    UnknownKey(String),
    #[error("does not open: altered, or sealed for another place")]
    Tampered,
}

/// Why the master keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("master key \"{id}\" is not 32 bytes of base64 ({reason})")]
    BadKey { id: String, reason: String },
    #[error("cannot read or create the key file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The master keys, one of them the primary that seals.
pub struct Keyring {
    primary: String,
    keys: BTreeMap<String, XChaCha20Poly1305>,
}

impl Keyring {
    /// A keyring of `(id, base64 key)` pairs sealing with `primary`.
    pub fn new(primary: &str, keys: &[(String, Secret)]) -> Result<Self, KeyError> {
        let mut out = BTreeMap::new();
        for (id, key) in keys {
            let bytes = URL_SAFE_NO_PAD
                .decode(key.expose().trim().trim_end_matches('='))
                .or_else(|_| base64::engine::general_purpose::STANDARD.decode(key.expose().trim()))
                .map_err(|e| KeyError::BadKey {
                    id: id.clone(),
                    reason: e.to_string(),
                })?;
            if bytes.len() != 32 {
                return Err(KeyError::BadKey {
                    id: id.clone(),
                    reason: format!("{} bytes", bytes.len()),
                });
            }
            let cipher = XChaCha20Poly1305::new_from_slice(&bytes).expect("32 bytes");
            out.insert(id.clone(), cipher);
        }
        Ok(Self {
            primary: primary.to_owned(),
            keys: out,
        })
    }

    /// The key kept in `<data_dir>/master.key`, created (mode 0600) on
    /// first use; true when it was just created.
    pub fn local(data_dir: &Path) -> Result<(Self, bool), KeyError> {
        let path = data_dir.join(LOCAL_KEY_FILE);
        let file_error = |source| KeyError::File {
            path: path.clone(),
            source,
        };
        let created = !path.exists();
        if created {
            let key = XChaCha20Poly1305::generate_key(&mut OsRng);
            write_private(&path, URL_SAFE_NO_PAD.encode(key).as_bytes()).map_err(file_error)?;
        }
        let text = std::fs::read_to_string(&path).map_err(file_error)?;
        let keyring = Self::new(LOCAL_KEY_ID, &[(LOCAL_KEY_ID.into(), Secret::new(text))])?;
        Ok((keyring, created))
    }

    /// Seals `plaintext` for the place `bound_to` names.
    pub fn seal(&self, plaintext: &str, bound_to: &[&str]) -> String {
        let cipher = &self.keys[&self.primary];
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(&self.primary, bound_to);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("encryption does not fail");
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        format!(
            "{VERSION}.{}.{}",
            self.primary,
            URL_SAFE_NO_PAD.encode(bytes)
        )
    }

    /// Opens a value [`Keyring::seal`] made for the same place.
    pub fn open(&self, sealed: &str, bound_to: &[&str]) -> Result<Secret, SealError> {
        let (key_id, bytes) = parse(sealed)?;
        let cipher = self
            .keys
            .get(key_id)
            .ok_or_else(|| SealError::UnknownKey(key_id.to_owned()))?;
        if bytes.len() < NONCE_BYTES {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let aad = associated_data(key_id, bound_to);
        let plaintext = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Tampered)?;
        String::from_utf8(plaintext)
            .map(Secret::new)
            .map_err(|_| SealError::Tampered)
    }

    /// True when `sealed` is under another key than the primary (a key
    /// rotation re-seals it).
    pub fn is_stale(&self, sealed: &str) -> bool {
        parse(sealed).is_ok_and(|(id, _)| id != self.primary)
    }

    pub fn primary(&self) -> &str {
        &self.primary
    }
}

fn parse(sealed: &str) -> Result<(&str, Vec<u8>), SealError> {
    let mut parts = sealed.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(VERSION), Some(id), Some(body)) if !id.is_empty() => URL_SAFE_NO_PAD
            .decode(body)
            .map(|bytes| (id, bytes))
            .map_err(|_| SealError::Malformed),
        _ => Err(SealError::Malformed),
    }
}

/// The key id and the place, unambiguously joined (lengths first).
fn associated_data(key_id: &str, bound_to: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in std::iter::once(key_id).chain(bound_to.iter().copied()) {
        out.extend((part.len() as u64).to_be_bytes());
        out.extend(part.as_bytes());
    }
    out
}

/// Writes a file only its owner may read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Secret {
        Secret::new(URL_SAFE_NO_PAD.encode([byte; 32]))
    }

    fn ring(primary: &str) -> Keyring {
        Keyring::new(primary, &[("k1".into(), key(1)), ("k2".into(), key(2))]).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_only_in_its_place_and_under_its_key() {
        let k1 = ring("k1");
        let sealed = k1.seal("hunter2", &["acct_a", "dst_1", "auth.password"]);
        assert!(sealed.starts_with("pr1.k1."), "{sealed}");
        assert!(!sealed.contains("hunter2"));
        let opened = k1
            .open(&sealed, &["acct_a", "dst_1", "auth.password"])
            .unwrap();
        assert_eq!(opened.expose(), "hunter2");
        // Moved to another customer, destination or field: does not open.
        for place in [
            ["acct_b", "dst_1", "auth.password"],
            ["acct_a", "dst_2", "auth.password"],
            ["acct_a", "dst_1", "auth.username"],
        ] {
            assert_eq!(k1.open(&sealed, &place), Err(SealError::Tampered));
        }
        // Another key id in the tag: the key id is bound too.
        let relabeled = sealed.replacen("pr1.k1.", "pr1.k2.", 1);
        assert_eq!(
            k1.open(&relabeled, &["acct_a", "dst_1", "auth.password"]),
            Err(SealError::Tampered)
        );
        // A flipped byte: does not open.
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed["pr1.k1.".len()..]).unwrap();
        bytes[30] ^= 1;
        let flipped = format!("pr1.k1.{}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(
            k1.open(&flipped, &["acct_a", "dst_1", "auth.password"]),
            Err(SealError::Tampered)
        );
    }

    #[test]
    fn rotation_keeps_old_keys_readable_until_removed() {
        let sealed = ring("k1").seal("s", &["a"]);
        let rotated = ring("k2");
        assert!(rotated.is_stale(&sealed));
        let resealed = rotated.seal(rotated.open(&sealed, &["a"]).unwrap().expose(), &["a"]);
        assert!(!rotated.is_stale(&resealed));
        let only_k2 = Keyring::new("k2", &[("k2".into(), key(2))]).unwrap();
        assert_eq!(only_k2.open(&resealed, &["a"]).unwrap().expose(), "s");
        assert_eq!(
            only_k2.open(&sealed, &["a"]),
            Err(SealError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn bad_keys_and_the_local_key_file() {
        assert!(Keyring::new("k", &[("k".into(), Secret::new("short"))]).is_err());
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = Keyring::local(dir.path()).unwrap();
        assert!(created);
        let (again, created) = Keyring::local(dir.path()).unwrap();
        assert!(!created, "kept");
        let sealed = first.seal("x", &["p"]);
        assert_eq!(again.open(&sealed, &["p"]).unwrap().expose(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(LOCAL_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
