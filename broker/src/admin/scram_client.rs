//! The client's side of one SCRAM-SHA-256 exchange (RFC 5802), pure: what
//! our admin connection sends to authenticate as the operator on a Kafka
//! with SASL. The server's side is `rfq_core::auth::scram`.

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use hmac::{Hmac, Mac as _};
use rfq_core::auth::scram::ScramCredential;
use sha2::{Digest as _, Sha256};

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> anyhow::Result<[u8; 32]> {
    let mut mac = HmacSha256::new_from_slice(key)?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().into())
}

/// An exchange started: the client-first message sent.
pub struct ScramClient {
    password: String,
    nonce: String,
    first_bare: String,
}

/// The exchange after the client-final: the signature the server must send.
pub struct Expecting {
    server_signature: [u8; 32],
}

impl ScramClient {
    /// Starts an exchange as `user`; the client-first message.
    pub fn start(user: &str, password: &str) -> (ScramClient, String) {
        let nonce = B64.encode(uuid::Uuid::new_v4().as_bytes());
        let name = user.replace('=', "=3D").replace(',', "=2C");
        let first_bare = format!("n={name},r={nonce}");
        let first = format!("n,,{first_bare}");
        (
            ScramClient {
                password: password.to_owned(),
                nonce,
                first_bare,
            },
            first,
        )
    }

    /// Reads the server-first message; the client-final message.
    pub fn answer(self, server_first: &str) -> anyhow::Result<(Expecting, String)> {
        let field = |key: &str| {
            server_first
                .split(',')
                .find_map(|part| part.strip_prefix(key))
                .ok_or_else(|| anyhow::anyhow!("server-first without {key}: {server_first}"))
        };
        let nonce = field("r=")?;
        anyhow::ensure!(
            nonce.starts_with(&self.nonce),
            "the server's nonce does not extend ours"
        );
        let salt = B64.decode(field("s=")?)?;
        let iterations: u32 = field("i=")?.parse()?;
        anyhow::ensure!(
            iterations >= 4096,
            "{iterations} iterations (at least 4096)"
        );
        let derived = ScramCredential::derive(&self.password, &salt, iterations);
        let client_key = hmac(&derived.salted_password, b"Client Key")?;
        let without_proof = format!("c=biws,r={nonce}");
        let message = format!("{},{server_first},{without_proof}", self.first_bare);
        let signature = hmac(&Sha256::digest(client_key), message.as_bytes())?;
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature)
            .map(|(key, sig)| key ^ sig)
            .collect();
        let expecting = Expecting {
            server_signature: hmac(&derived.credential.server_key, message.as_bytes())?,
        };
        Ok((
            expecting,
            format!("{without_proof},p={}", B64.encode(proof)),
        ))
    }
}

impl Expecting {
    /// Checks the server-final message: the server holds our key.
    pub fn verify(self, server_final: &str) -> anyhow::Result<()> {
        if let Some(error) = server_final.strip_prefix("e=") {
            anyhow::bail!("the server refused: {error}");
        }
        let signature = server_final
            .strip_prefix("v=")
            .ok_or_else(|| anyhow::anyhow!("server-final without v="))?;
        anyhow::ensure!(
            B64.decode(signature)? == self.server_signature,
            "the server's signature is wrong: not the server we know"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rfq_core::auth::scram::ScramServer;

    #[test]
    fn the_client_and_our_server_agree_and_a_wrong_password_fails() {
        let credential = ScramCredential::derive("pencil", b"salt-of-the-earth", 4096).credential;
        let (client, first) = ScramClient::start("user", "pencil");
        let server = ScramServer::client_first(&first).unwrap();
        let (awaiting, server_first) = server.server_first(credential.clone());
        let (expecting, last) = client.answer(&server_first).unwrap();
        let server_final = awaiting.client_final(&last).unwrap();
        expecting.verify(&server_final).unwrap();

        let (client, first) = ScramClient::start("user", "wrong");
        let server = ScramServer::client_first(&first).unwrap();
        let (awaiting, server_first) = server.server_first(credential);
        let (_, last) = client.answer(&server_first).unwrap();
        assert!(awaiting.client_final(&last).is_err());
    }
}
