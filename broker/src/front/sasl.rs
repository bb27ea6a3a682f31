//! Authentication on the embedded broker: SASL/SCRAM-SHA-256 (RFC 7677) in
//! Kafka's `SaslHandshake` and `SaslAuthenticate`, answered by the front
//! itself, so a partner's standard client connects to `rfq up` with the
//! same settings as to Apache Kafka (`security.protocol=SASL_PLAINTEXT`,
//! `sasl.mechanism=SCRAM-SHA-256`).
//!
//! SASL/PLAIN (RFC 4616) is offered too, checked against the same stored
//! SCRAM credential (the password is derived again and compared): for
//! clients whose SCRAM is broken, such as Debian's kcat (librdkafka 2.0.2
//! sends its nonce twice in the client-final message; Apache Kafka 4.1.2
//! refuses it the same way). PLAIN sends the password itself: use it on
//! loopback only.
//!
//! Until a connection has authenticated, only ApiVersions and the SASL
//! requests are answered; anything else closes it, as Kafka does. Who a
//! user is comes from [`Credentials`]: our own components are the operator
//! (a credential made for this run), partners are looked up in the
//! partner directory (`rfq partners add`). An unknown user goes through
//! the same exchange as a known one with a wrong password, and fails at
//! the same step with the same error: names cannot be probed.

use super::{Filter, Next, tenancy::access::Principal, wire::Reply, wire::Request};
use kafka_protocol::{
    messages::{
        ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
        SaslHandshakeResponse,
    },
    protocol::StrBytes,
};
use rfq_core::auth::{
    partners::PartnerDirectory,
    scram::{AwaitingProof, MECHANISM, ScramCredential, ScramServer},
};
use rfq_core::domain::PartnerName;
use std::sync::Arc;

/// SASL/PLAIN.
const PLAIN: &str = "PLAIN";

/// `UNSUPPORTED_SASL_MECHANISM`.
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// `ILLEGAL_SASL_STATE`.
const ILLEGAL_SASL_STATE: i16 = 34;
/// `SASL_AUTHENTICATION_FAILED`.
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// Where a user's credential is found.
#[async_trait::async_trait]
pub trait Credentials: Send + Sync {
    /// The SCRAM-SHA-256 credential of `user` and who that is; `None` for
    /// a user nobody knows.
    async fn scram(&self, user: &str) -> Result<Option<(ScramCredential, Principal)>, String>;
}

/// The operator (a user name and its credential), then the partners of a
/// directory.
pub struct Directory {
    /// The operator's user name.
    pub operator: String,
    /// The operator's credential.
    pub operator_credential: ScramCredential,
    /// The partners (`rfq partners add`).
    pub partners: Arc<dyn PartnerDirectory>,
}

#[async_trait::async_trait]
impl Credentials for Directory {
    async fn scram(&self, user: &str) -> Result<Option<(ScramCredential, Principal)>, String> {
        if user == self.operator {
            return Ok(Some((
                self.operator_credential.clone(),
                Principal::Operator,
            )));
        }
        let Ok(name) = PartnerName::parse(user) else {
            return Ok(None);
        };
        Ok(self
            .partners
            .scram_credential(name.as_str())
            .await?
            .map(|credential| (credential, Principal::Partner(name.door()))))
    }
}

/// Where a connection's exchange is.
#[derive(Debug, Default)]
pub enum Exchange {
    /// Nothing yet.
    #[default]
    Start,
    /// SCRAM-SHA-256 agreed.
    Handshaken,
    /// PLAIN agreed.
    Plain,
    /// Server-first sent; `principal` if the user is known.
    Proving(AwaitingProof, Option<Principal>),
    /// Failed: nothing more is answered.
    Failed,
}

/// The authentication filter; runs right after ApiVersions.
pub struct Sasl {
    credentials: Arc<dyn Credentials>,
}

impl Sasl {
    /// Authenticates against `credentials`.
    pub fn new(credentials: Arc<dyn Credentials>) -> Sasl {
        Sasl { credentials }
    }
}

#[async_trait::async_trait]
impl Filter for Sasl {
    async fn handle(&self, request: Request, next: &mut Next<'_>) -> anyhow::Result<Reply> {
        match request.key {
            ApiKey::SaslHandshake => {
                let body: SaslHandshakeRequest = request.body()?;
                let session = next.session();
                let code =
                    if session.principal.is_some() || !matches!(session.sasl, Exchange::Start) {
                        ILLEGAL_SASL_STATE
                    } else if body.mechanism.as_str() == MECHANISM {
                        session.sasl = Exchange::Handshaken;
                        0
                    } else if body.mechanism.as_str() == PLAIN {
                        session.sasl = Exchange::Plain;
                        0
                    } else {
                        UNSUPPORTED_SASL_MECHANISM
                    };
                request.reply(
                    &SaslHandshakeResponse::default()
                        .with_error_code(code)
                        .with_mechanisms(vec![
                            StrBytes::from_static_str(MECHANISM),
                            StrBytes::from_static_str(PLAIN),
                        ]),
                )
            }
            ApiKey::SaslAuthenticate => {
                let body: SaslAuthenticateRequest = request.body()?;
                let message = String::from_utf8_lossy(&body.auth_bytes).into_owned();
                let state = std::mem::take(&mut next.session().sasl);
                let (state, answer) = self.step(state, &message).await;
                let session = next.session();
                let reply = match answer {
                    Ok((bytes, principal)) => {
                        if let Some(principal) = principal {
                            tracing::debug!(principal = %principal.name(), "authenticated");
                            session.principal = Some(principal);
                        }
                        SaslAuthenticateResponse::default()
                            .with_auth_bytes(bytes::Bytes::from(bytes.into_bytes()))
                    }
                    Err(reason) => {
                        tracing::info!(%reason, "a Kafka client failed to authenticate");
                        SaslAuthenticateResponse::default()
                            .with_error_code(SASL_AUTHENTICATION_FAILED)
                            .with_error_message(Some(StrBytes::from_string(format!(
                                "Authentication failed during authentication due to invalid \
                                 credentials: {reason}"
                            ))))
                    }
                };
                session.sasl = state;
                request.reply(&reply)
            }
            key if next.session().principal.is_none() => {
                anyhow::bail!("a {key:?} request before authentication (connection closed)")
            }
            _ => next.run(request).await,
        }
    }
}

impl Sasl {
    /// Checks a PLAIN message (`authzid NUL user NUL password`, no other
    /// authzid than the user) against the user's stored SCRAM credential.
    async fn plain(&self, message: &str) -> Result<Principal, String> {
        let failed = || rfq_core::auth::scram::ScramError::Failed.to_string();
        let mut parts = message.split('\0');
        let (Some(authzid), Some(user), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("a PLAIN message is authzid, user and password".to_owned());
        };
        if !authzid.is_empty() && authzid != user {
            return Err(failed());
        }
        let found = self
            .credentials
            .scram(user)
            .await
            .map_err(|error| format!("credentials unavailable: {error}"))?;
        let Some((credential, principal)) = found else {
            return Err(failed());
        };
        let derived = ScramCredential::derive(password, &credential.salt, credential.iterations);
        match derived.credential.stored_key == credential.stored_key {
            true => Ok(principal),
            false => Err(failed()),
        }
    }

    /// One step of the exchange: the next state and what to send, with the
    /// principal once proven.
    async fn step(
        &self,
        state: Exchange,
        message: &str,
    ) -> (Exchange, Result<(String, Option<Principal>), String>) {
        match state {
            Exchange::Plain => match self.plain(message).await {
                Ok(principal) => (Exchange::Start, Ok((String::new(), Some(principal)))),
                Err(reason) => (Exchange::Failed, Err(reason)),
            },
            Exchange::Handshaken => {
                let server = match ScramServer::client_first(message) {
                    Ok(server) => server,
                    Err(error) => return (Exchange::Failed, Err(error.to_string())),
                };
                let found = match self.credentials.scram(server.user()).await {
                    Ok(found) => found,
                    Err(error) => {
                        return (
                            Exchange::Failed,
                            Err(format!("credentials unavailable: {error}")),
                        );
                    }
                };
                // An unknown user gets a made-up credential: it fails at the
                // proof, like a wrong password.
                let (principal, (awaiting, first)) = match found {
                    Some((credential, principal)) => {
                        (Some(principal), server.server_first(credential))
                    }
                    None => (None, server.server_first_unknown()),
                };
                (Exchange::Proving(awaiting, principal), Ok((first, None)))
            }
            Exchange::Proving(awaiting, principal) => {
                match (awaiting.client_final(message), principal) {
                    (Ok(last), Some(principal)) => (Exchange::Start, Ok((last, Some(principal)))),
                    (proof, _) => {
                        // The client is told only that it failed; the log says why.
                        if let Err(error) = proof {
                            tracing::debug!(%error, "a SCRAM proof refused");
                        }
                        (
                            Exchange::Failed,
                            Err(rfq_core::auth::scram::ScramError::Failed.to_string()),
                        )
                    }
                }
            }
            Exchange::Start | Exchange::Failed => (
                Exchange::Failed,
                Err("SaslAuthenticate before SaslHandshake".to_owned()),
            ),
        }
    }
}
