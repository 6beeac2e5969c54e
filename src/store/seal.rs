//! Secrets at rest: the values of every `headers` and `env` map a registration carries
//! (upstreams, services, projects, releases), and every `client_secret`, are stored sealed — AES-256-GCM, a fresh random
//! nonce per value, the record and field as associated data — and opened when read back.
//!
//! The key is 32 bytes: from `ATT_SECRET_KEY` (base64) when set, else from
//! `<data_dir>/secret.key`, made on first start (readable by att's user only). Moving a
//! sealed value to another record or field, or reading it with another key, fails loudly
//! (naming the record) instead of yielding a wrong secret.
//!
//! A sealed value is the text `enc:v1:<base64 of nonce ‖ ciphertext ‖ tag>`. A value without
//! that prefix was stored before sealing existed: it is read as it is and sealed when the
//! record is next written ([`Seal::open_tree`] says whether one was found, so the store can
//! rewrite the record at once).

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;

/// The environment variable that holds the key (base64 of 32 bytes).
pub const KEY_ENV: &str = "ATT_SECRET_KEY";
/// The key file in the data directory.
pub const KEY_FILE: &str = "secret.key";
const PREFIX: &str = "enc:v1:";
/// The maps whose values are secrets.
const SECRET_MAPS: [&str; 2] = ["headers", "env"];
/// The fields that are secrets themselves (an upstream's `oauth.client_secret`).
const SECRET_FIELDS: [&str; 1] = ["client_secret"];

/// Why secrets cannot be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("{0}")]
    Key(String),
    #[error("`{0}` cannot be opened: it was sealed with another key or for another record")]
    Open(String),
}

/// Seals and opens secret values with one key.
pub struct Seal {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seal(•••)")
    }
}

impl Seal {
    /// The key from `from_env` (the value of [`KEY_ENV`]) when given, else from
    /// `data_dir`'s key file, made now if there is none.
    pub fn load(data_dir: &Path, from_env: Option<&str>) -> Result<Self, SealError> {
        let bytes = match from_env {
            Some(text) => decode(text).map_err(|e| SealError::Key(format!("{KEY_ENV}: {e}")))?,
            None => key_file(&data_dir.join(KEY_FILE))?,
        };
        Self::from_bytes(&bytes)
    }

    /// A seal with the 32-byte `key`.
    pub fn from_bytes(key: &[u8]) -> Result<Self, SealError> {
        let key = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| SealError::Key("the key must be 32 bytes".into()))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            random: SystemRandom::new(),
        })
    }

    /// `plain`, sealed for the field `aad` names.
    pub fn seal(&self, aad: &str, plain: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SealError::Key("no randomness for a nonce".into()))?;
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut data,
            )
            .map_err(|_| SealError::Key("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}", B64.encode(out)))
    }

    /// The plain text of `text` sealed for `aad`; `None` if `text` was never sealed.
    pub fn open(&self, aad: &str, text: &str) -> Result<Option<String>, SealError> {
        let Some(body) = text.strip_prefix(PREFIX) else {
            return Ok(None);
        };
        let fail = || SealError::Open(aad.to_owned());
        let mut data = B64.decode(body).map_err(|_| fail())?;
        if data.len() < NONCE_LEN {
            return Err(fail());
        }
        let mut sealed = data.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&data).map_err(|_| fail())?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut sealed)
            .map_err(|_| fail())?;
        String::from_utf8(plain.to_vec())
            .map(Some)
            .map_err(|_| fail())
    }

    /// Seals every value of every `headers` and `env` map in `tree` (at any depth) for
    /// `scope`/its path (`upstreams/github/headers/Authorization`).
    pub fn seal_tree(&self, scope: &str, tree: &mut Value) -> Result<(), SealError> {
        let mut failure = None;
        secret_values(scope, tree, &mut |aad, value| {
            if failure.is_none() && !value.starts_with(PREFIX) {
                match self.seal(aad, value) {
                    Ok(sealed) => *value = sealed,
                    Err(e) => failure = Some(e),
                }
            }
        });
        failure.map_or(Ok(()), Err)
    }

    /// Opens what [`Seal::seal_tree`] sealed; whether a value was found stored in the clear.
    pub fn open_tree(&self, scope: &str, tree: &mut Value) -> Result<bool, SealError> {
        let (mut clear, mut failure) = (false, None);
        secret_values(scope, tree, &mut |aad, value| {
            if failure.is_some() {
                return;
            }
            match self.open(aad, value) {
                Ok(Some(plain)) => *value = plain,
                Ok(None) => clear = true,
                Err(e) => failure = Some(e),
            }
        });
        failure.map_or(Ok(clear), Err)
    }
}

impl att_runtime::secret::Sealer for Seal {
    fn seal(&self, aad: &str, plain: &str) -> Result<String, String> {
        Seal::seal(self, aad, plain).map_err(|e| e.to_string())
    }

    fn open(&self, aad: &str, text: &str) -> Result<String, String> {
        match Seal::open(self, aad, text) {
            Ok(Some(plain)) => Ok(plain),
            Ok(None) => Ok(text.to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Calls `each` with the associated data and the value of every string in a secret map.
fn secret_values(path: &str, tree: &mut Value, each: &mut impl FnMut(&str, &mut String)) {
    let Value::Object(map) = tree else {
        return;
    };
    for (key, child) in map.iter_mut() {
        let here = format!("{path}/{key}");
        match child {
            Value::Object(values) if SECRET_MAPS.contains(&key.as_str()) => {
                for (name, value) in values.iter_mut() {
                    if let Value::String(s) = value {
                        each(&format!("{here}/{name}"), s);
                    }
                }
            }
            Value::Object(_) => secret_values(&here, child, each),
            Value::String(s) if SECRET_FIELDS.contains(&key.as_str()) => each(&here, s),
            _ => {}
        }
    }
}

fn decode(text: &str) -> Result<Vec<u8>, String> {
    let bytes = B64
        .decode(text.trim())
        .map_err(|_| "expected base64 (`openssl rand -base64 32`)".to_owned())?;
    if bytes.len() == 32 {
        Ok(bytes)
    } else {
        Err(format!("expected 32 bytes, got {}", bytes.len()))
    }
}

/// The key in `path`, made (32 random bytes, mode 0600) if the file does not exist.
fn key_file(path: &PathBuf) -> Result<Vec<u8>, SealError> {
    let named = |e: String| SealError::Key(format!("{}: {e}", path.display()));
    match std::fs::read_to_string(path) {
        Ok(text) => return decode(&text).map_err(named),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(named(e.to_string())),
        Err(_) => {}
    }
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| named("no randomness for a key".into()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(f) => f,
        // Another att made it first: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(|e| named(e.to_string()))?;
            return decode(&text).map_err(named);
        }
        Err(e) => return Err(named(e.to_string())),
    };
    writeln!(file, "{}", B64.encode(key))
        .and_then(|()| file.sync_all())
        .map_err(|e| named(e.to_string()))?;
    Ok(key.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seal() -> Seal {
        Seal::from_bytes(&[7u8; 32]).expect("key")
    }

    /// `sealed` with one bit of its tag flipped.
    fn tampered(sealed: &str) -> String {
        let mut raw = B64.decode(&sealed[PREFIX.len()..]).expect("base64");
        let last = raw.len() - 1;
        raw[last] ^= 1;
        format!("{PREFIX}{}", B64.encode(raw))
    }

    #[test]
    fn a_value_opens_only_with_its_key_and_its_field() {
        let s = seal();
        let sealed = s.seal("upstreams/a/headers/X", "ghp_secret").expect("seal");
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("ghp_secret"));
        assert_ne!(
            sealed,
            s.seal("upstreams/a/headers/X", "ghp_secret").expect("seal")
        );
        assert_eq!(
            s.open("upstreams/a/headers/X", &sealed).expect("open"),
            Some("ghp_secret".into())
        );
        let cases = [
            (seal(), "upstreams/b/headers/X", sealed.clone()),
            (
                Seal::from_bytes(&[8u8; 32]).expect("key"),
                "upstreams/a/headers/X",
                sealed.clone(),
            ),
            (seal(), "upstreams/a/headers/X", format!("{PREFIX}AAAA")),
            (
                seal(),
                "upstreams/a/headers/X",
                format!("{PREFIX}not base64!"),
            ),
            (seal(), "upstreams/a/headers/X", tampered(&sealed)),
        ];
        for (key, aad, text) in cases {
            assert!(
                matches!(key.open(aad, &text), Err(SealError::Open(_))),
                "{aad} {text}"
            );
        }
        assert_eq!(s.open("x", "plain").expect("clear"), None);
    }

    #[test]
    fn trees_seal_headers_and_env_at_any_depth_and_nothing_else() {
        let s = seal();
        let given = json!({
            "name": "svc", "url": "http://x", "headers": {"Authorization": "Bearer t"},
            "env": {"TOKEN": "t"}, "build": {"env": {"K": "v"}, "args": ["t"]},
            "health": {"headers": {"H": "h"}}, "args": ["Bearer t"],
            "oauth": {"client_id": "att", "client_secret": "cs"}
        });
        let mut tree = given.clone();
        s.seal_tree("services/svc", &mut tree).expect("seal");
        for pointer in [
            "/headers/Authorization",
            "/env/TOKEN",
            "/build/env/K",
            "/health/headers/H",
            "/oauth/client_secret",
        ] {
            let v = tree
                .pointer(pointer)
                .and_then(Value::as_str)
                .expect(pointer);
            assert!(v.starts_with(PREFIX), "{pointer}: {v}");
        }
        assert_eq!(tree["args"], given["args"]);
        assert_eq!(tree["oauth"]["client_id"], "att");
        assert_eq!(tree["build"]["args"], given["build"]["args"]);
        // Sealing twice does not seal a sealed value again.
        let once = tree.clone();
        s.seal_tree("services/svc", &mut tree).expect("seal");
        assert_eq!(tree, once);
        let mut opened = tree.clone();
        assert!(!s.open_tree("services/svc", &mut opened).expect("open"));
        assert_eq!(opened, given);
        // Moved to another record: refused, naming the field.
        let mut moved = tree.clone();
        let e = s
            .open_tree("services/other", &mut moved)
            .expect_err("moved");
        assert!(e.to_string().contains("services/other/"), "{e}");
        // A record stored before sealing reads as it is, and says so.
        let mut old = given.clone();
        assert!(s.open_tree("services/svc", &mut old).expect("open"));
        assert_eq!(old, given);
    }

    #[test]
    fn the_key_comes_from_the_environment_or_a_file_made_once() {
        let dir = tempfile::tempdir().expect("dir");
        let first = Seal::load(dir.path(), None).expect("made");
        let sealed = first.seal("a", "v").expect("seal");
        let again = Seal::load(dir.path(), None).expect("read");
        assert_eq!(again.open("a", &sealed).expect("open"), Some("v".into()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .expect("key file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let from_env = Seal::load(dir.path(), Some(&B64.encode([9u8; 32]))).expect("env");
        assert!(from_env.open("a", &sealed).is_err());
        for bad in ["", "short", &B64.encode([1u8; 16])] {
            let e = Seal::load(dir.path(), Some(bad)).expect_err(bad);
            assert!(e.to_string().starts_with(KEY_ENV), "{e}");
        }
        std::fs::write(dir.path().join(KEY_FILE), "garbage").expect("write");
        let e = Seal::load(dir.path(), None).expect_err("garbage");
        assert!(e.to_string().contains(KEY_FILE), "{e}");
    }
}
