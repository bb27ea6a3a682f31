//! SCRAM-SHA-256 (RFC 5802, RFC 7677), pure: the credential a server keeps
//! instead of a password, and the server's side of one exchange.
//!
//! A partner's Kafka password is never stored: [`ScramCredential::derive`]
//! turns it into a salt, an iteration count, `StoredKey` and `ServerKey`
//! (what the store keeps, and what Kafka's own SCRAM store keeps), and the
//! salted password a real Kafka's `kafka-configs.sh --add-config
//! 'SCRAM-SHA-256=[…,saltedpassword=…]'` takes. [`ScramServer`] runs one
//! exchange: client-first → server-first (our nonce appended to the
//! client's) → client-final (the proof checked against `StoredKey`) →
//! server-final (our signature, so the client knows we hold the key). It
//! does no I/O: the embedded broker's Kafka-protocol front carries the
//! messages in `SaslAuthenticate` and looks the credential up.
//!
//! Channel binding is not offered (`n,,`: the front is plain TCP or TLS
//! terminated elsewhere); a client asking for it (`p=`) is refused, and a
//! client that could have used it but says it thinks we cannot (`y,,`) is
//! accepted, since we indeed cannot.

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The mechanism's name, as SASL and Kafka spell it.
pub const MECHANISM: &str = "SCRAM-SHA-256";

/// Iterations for new credentials (Kafka's minimum is 4096).
pub const ITERATIONS: u32 = 8192;

/// Fewest iterations a credential may have (RFC 7677 and Kafka: 4096).
pub const MIN_ITERATIONS: u32 = 4096;

type HmacSha256 = Hmac<Sha256>;

/// What a server keeps of a password (RFC 5802, section 3).
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// The salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// `H(HMAC(SaltedPassword, "Client Key"))`: checks a client's proof.
    pub stored_key: [u8; 32],
    /// `HMAC(SaltedPassword, "Server Key")`: signs the server-final.
    pub server_key: [u8; 32],
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScramCredential(iterations={}, …)", self.iterations)
    }
}

/// A derived credential with the salted password it came from (only for
/// handing to a real Kafka's `kafka-configs.sh`; never stored).
pub struct Derived {
    /// What to keep.
    pub credential: ScramCredential,
    /// `Hi(password, salt, iterations)`.
    pub salted_password: [u8; 32],
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length: `new_from_slice` cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts every key length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl ScramCredential {
    /// Derives the credential of `password` with `salt` and `iterations`.
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> Derived {
        let mut salted_password = [0u8; 32];
        // Hi() of RFC 5802 is PBKDF2 with HMAC-SHA-256 and one block.
        if pbkdf2::pbkdf2::<HmacSha256>(password.as_bytes(), salt, iterations, &mut salted_password)
            .is_err()
        {
            unreachable!("HMAC accepts every key length");
        }
        let client_key = hmac(&salted_password, b"Client Key");
        let credential = ScramCredential {
            salt: salt.to_vec(),
            iterations,
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted_password, b"Server Key"),
        };
        Derived {
            credential,
            salted_password,
        }
    }

    /// A credential of `password` with a new random salt and [`ITERATIONS`].
    pub fn generate(password: &str) -> Derived {
        Self::derive(password, &random_bytes(), ITERATIONS)
    }
}

/// 32 random bytes (from the system's generator, through uuid v4).
fn random_bytes() -> Vec<u8> {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    a.as_bytes().iter().chain(b.as_bytes()).copied().collect()
}

/// Base64, as SCRAM and `kafka-configs.sh` write bytes.
pub fn base64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Why an exchange failed (the text is safe to send to the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    /// A message that is not what SCRAM says at this step.
    #[error("invalid SCRAM message: {0}")]
    Malformed(&'static str),
    /// The client asked for channel binding, which is not offered.
    #[error("channel binding is not supported")]
    ChannelBinding,
    /// The client-final's nonce is not the one of this exchange.
    #[error("the nonce does not match")]
    Nonce,
    /// Wrong password, or unknown user (the same answer, on purpose).
    #[error("authentication failed")]
    Failed,
}

/// The fields of a SCRAM message (`k=v,…`), in order.
fn fields(message: &str) -> Vec<(char, &str)> {
    message
        .split(',')
        .filter_map(|field| {
            let mut chars = field.chars();
            let key = chars.next()?;
            field.get(1..)?.strip_prefix('=').map(|value| (key, value))
        })
        .collect()
}

fn field<'a>(fields: &[(char, &'a str)], key: char) -> Option<&'a str> {
    fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A `saslname` unescaped (`=2C` is `,`, `=3D` is `=`).
fn unescape(name: &str) -> Result<String, ScramError> {
    let bare = name.replace("=2C", "").replace("=3D", "");
    if bare.contains('=') || name.is_empty() {
        return Err(ScramError::Malformed("bad user name"));
    }
    Ok(name.replace("=2C", ",").replace("=3D", "="))
}

/// The server after the client-first message: who the client says it is.
#[derive(Debug)]
pub struct ScramServer {
    /// The user name the client sent.
    user: String,
    /// The client's nonce.
    client_nonce: String,
    /// The client-first message without its GS2 header.
    client_first_bare: String,
}

/// The server after sending server-first: waiting for the client's proof.
#[derive(Debug)]
pub struct AwaitingProof {
    credential: ScramCredential,
    nonce: String,
    client_first_bare: String,
    server_first: String,
}

impl ScramServer {
    /// Reads the client-first message (`n,,n=user,r=nonce`).
    pub fn client_first(message: &str) -> Result<ScramServer, ScramError> {
        let mut parts = message.splitn(3, ',');
        let (flag, _authzid, bare) = (parts.next(), parts.next(), parts.next());
        match flag {
            Some("n" | "y") => {}
            Some(flag) if flag.starts_with("p=") => return Err(ScramError::ChannelBinding),
            _ => return Err(ScramError::Malformed("bad GS2 header")),
        }
        let bare = bare.ok_or(ScramError::Malformed("no client-first-bare"))?;
        if bare.starts_with("m=") {
            return Err(ScramError::Malformed("mandatory extension not supported"));
        }
        let parsed = fields(bare);
        let user = field(&parsed, 'n').ok_or(ScramError::Malformed("no user name"))?;
        let nonce = field(&parsed, 'r').ok_or(ScramError::Malformed("no nonce"))?;
        if nonce.is_empty() || nonce.contains(',') {
            return Err(ScramError::Malformed("bad nonce"));
        }
        Ok(ScramServer {
            user: unescape(user)?,
            client_nonce: nonce.to_owned(),
            client_first_bare: bare.to_owned(),
        })
    }

    /// The user name the client authenticates as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Answers with server-first for the user's `credential`, with a
    /// random server nonce.
    pub fn server_first(self, credential: ScramCredential) -> (AwaitingProof, String) {
        // Letters and digits only, as Kafka's own nonces: a `=`, `+` or
        // `/` of base64 trips older clients (librdkafka 2.0, Debian's kcat,
        // sends a different nonce back).
        let nonce: String = random_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        self.server_first_with_nonce(credential, &nonce)
    }

    /// Answers server-first for a user with no credential (unknown or
    /// removed) with a made-up one, so the exchange goes on and fails at
    /// the proof as a wrong password does: an unknown user is not told
    /// apart from a known one (RFC 5802, section 5.1).
    pub fn server_first_unknown(self) -> (AwaitingProof, String) {
        let made_up = base64(&random_bytes());
        let credential = ScramCredential::derive(&made_up, &random_bytes(), ITERATIONS).credential;
        self.server_first(credential)
    }

    /// [`Self::server_first`] with a given server nonce (tests).
    pub fn server_first_with_nonce(
        self,
        credential: ScramCredential,
        server_nonce: &str,
    ) -> (AwaitingProof, String) {
        let nonce = format!("{}{server_nonce}", self.client_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            base64(&credential.salt),
            credential.iterations
        );
        let state = AwaitingProof {
            credential,
            nonce,
            client_first_bare: self.client_first_bare,
            server_first: server_first.clone(),
        };
        (state, server_first)
    }
}

impl AwaitingProof {
    /// Checks the client-final message's proof; the server-final message
    /// (`v=signature`) if it holds.
    pub fn client_final(self, message: &str) -> Result<String, ScramError> {
        let (without_proof, proof) = message
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let parsed = fields(without_proof);
        let binding = field(&parsed, 'c').ok_or(ScramError::Malformed("no channel binding"))?;
        // base64 of the GS2 header `n,,` or `y,,` (no authzid is taken).
        if !matches!(binding, "biws" | "eSws") {
            return Err(ScramError::Malformed("channel binding data does not match"));
        }
        if field(&parsed, 'r') != Some(self.nonce.as_str()) {
            return Err(ScramError::Nonce);
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("proof is not base64"))?;
        if proof.len() != 32 {
            return Err(ScramError::Failed);
        }
        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.server_first
        );
        let client_signature = hmac(&self.credential.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof
            .iter()
            .zip(client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        let stored_key: [u8; 32] = Sha256::digest(&client_key).into();
        if !bool::from(stored_key.ct_eq(&self.credential.stored_key)) {
            return Err(ScramError::Failed);
        }
        let server_signature = hmac(&self.credential.server_key, auth_message.as_bytes());
        Ok(format!("v={}", base64(&server_signature)))
    }
}

#[cfg(test)]
mod tests;
