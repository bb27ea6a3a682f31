//! What `rfq partners` asks of an Apache Kafka that rdkafka's Rust API
//! cannot: a partner's SCRAM credential (AlterUserScramCredentials), the
//! ACLs of its door (CreateAcls, DeleteAcls: [`Door::rights`], the same
//! list the embedded broker's front enforces) and its produce quota
//! (AlterClientQuotas), sent over the Kafka protocol on one connection,
//! authenticated as the operator when the settings say SASL.
//!
//! Only `PLAINTEXT` and `SASL_PLAINTEXT` with SCRAM-SHA-256 are spoken
//! here; with TLS (`SASL_SSL`, `SSL`) the caller prints the equivalent
//! `kafka-configs.sh` and `kafka-acls.sh` commands instead.

mod scram_client;

use crate::front::wire::{self, Request};
use anyhow::Context as _;
use bytes::Bytes;
use kafka_protocol::{
    messages::{
        AlterClientQuotasRequest, AlterClientQuotasResponse, AlterUserScramCredentialsRequest,
        AlterUserScramCredentialsResponse, ApiKey, ApiVersionsRequest, ApiVersionsResponse,
        CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
        RequestHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
        SaslHandshakeResponse, alter_client_quotas_request as quotas,
        alter_user_scram_credentials_request as scram, create_acls_request::AclCreation,
        delete_acls_request::DeleteAclsFilter,
    },
    protocol::{Decodable, Encodable, StrBytes},
};
use rfq_core::{
    auth::scram::Derived,
    domain::{Door, Operation, Resource},
    kafka::KafkaSettings,
};
use scram_client::ScramClient;
use std::collections::HashMap;
use tokio::{
    io::{BufReader, BufWriter},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
};

/// Kafka's numbers for ACL resource types, pattern types, operations and
/// permissions (`org.apache.kafka.common.acl`, `…resource`).
mod acl {
    pub const ANY: i8 = 1;
    pub const TOPIC: i8 = 2;
    pub const GROUP: i8 = 3;
    pub const LITERAL: i8 = 3;
    pub const PREFIXED: i8 = 4;
    pub const READ: i8 = 3;
    pub const WRITE: i8 = 4;
    pub const DESCRIBE: i8 = 8;
    pub const ALLOW: i8 = 3;
}

/// SCRAM-SHA-256 in AlterUserScramCredentials.
const SCRAM_SHA_256: i8 = 1;

/// One authenticated admin connection to a Kafka broker.
pub struct Admin {
    reader: BufReader<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
    correlation: i32,
    /// The broker's newest version of each API.
    versions: HashMap<i16, i16>,
}

/// An ACL of a door, as Kafka's CreateAcls takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    /// `acl::TOPIC` or `acl::GROUP`.
    pub resource_type: i8,
    /// The resource's name, or its prefix.
    pub name: String,
    /// `acl::LITERAL` or `acl::PREFIXED`.
    pub pattern: i8,
    /// `acl::READ`, `acl::WRITE` or `acl::DESCRIBE`.
    pub operation: i8,
}

/// The ACLs of `door`: its rights, one ACL per operation.
pub fn door_acls(door: &Door) -> Vec<Acl> {
    door.rights()
        .into_iter()
        .flat_map(|right| {
            let (resource_type, name, pattern) = match right.resource {
                Resource::Topic(name) => (acl::TOPIC, name, acl::LITERAL),
                Resource::Group(name) => (acl::GROUP, name, acl::LITERAL),
                Resource::GroupsUnder(prefix) => (acl::GROUP, prefix, acl::PREFIXED),
            };
            right.operations.into_iter().map(move |operation| Acl {
                resource_type,
                name: name.clone(),
                pattern,
                operation: match operation {
                    Operation::Read => acl::READ,
                    Operation::Write => acl::WRITE,
                    Operation::Describe => acl::DESCRIBE,
                },
            })
        })
        .collect()
}

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

impl Admin {
    /// Connects to the first bootstrap server of `kafka`, authenticating
    /// as its `sasl.username` when its `security.protocol` says SASL.
    pub async fn connect(kafka: &KafkaSettings) -> anyhow::Result<Admin> {
        let option = |key: &str| {
            kafka
                .options
                .iter()
                .rev()
                .find(|(known, _)| known == key)
                .map(|(_, value)| value.as_str())
        };
        let protocol = option("security.protocol")
            .unwrap_or("plaintext")
            .to_ascii_lowercase();
        let server = kafka
            .brokers()
            .split(',')
            .next()
            .context("no bootstrap server")?
            .trim()
            .to_owned();
        let stream = TcpStream::connect(&server)
            .await
            .with_context(|| format!("connecting to Kafka at {server}"))?;
        let (reader, writer) = stream.into_split();
        let mut admin = Admin {
            reader: BufReader::new(reader),
            writer: BufWriter::new(writer),
            correlation: 0,
            versions: HashMap::new(),
        };
        let offered: ApiVersionsResponse = admin
            .call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())
            .await?;
        admin.versions = offered
            .api_keys
            .iter()
            .map(|api| (api.api_key, api.max_version))
            .collect();
        match protocol.as_str() {
            "plaintext" => {}
            "sasl_plaintext" => {
                let mechanism = option("sasl.mechanism")
                    .or_else(|| option("sasl.mechanisms"))
                    .unwrap_or("GSSAPI");
                anyhow::ensure!(
                    mechanism == "SCRAM-SHA-256",
                    "the operator authenticates with {mechanism}: only SCRAM-SHA-256 is spoken here"
                );
                let user = option("sasl.username").context("no sasl.username")?;
                let password = option("sasl.password").context("no sasl.password")?;
                admin.authenticate(user, password).await?;
            }
            other => anyhow::bail!(
                "security.protocol={other}: TLS is not spoken here (use the printed commands)"
            ),
        }
        Ok(admin)
    }

    async fn authenticate(&mut self, user: &str, password: &str) -> anyhow::Result<()> {
        let handshake: SaslHandshakeResponse = self
            .call(
                ApiKey::SaslHandshake,
                1,
                &SaslHandshakeRequest::default().with_mechanism(text("SCRAM-SHA-256")),
            )
            .await?;
        anyhow::ensure!(
            handshake.error_code == 0,
            "Kafka does not offer SCRAM-SHA-256 (error {})",
            handshake.error_code
        );
        let (client, first) = ScramClient::start(user, password);
        let server_first = self.sasl_step(first).await?;
        let (expecting, last) = client.answer(&server_first)?;
        let server_final = self.sasl_step(last).await?;
        expecting.verify(&server_final)
    }

    async fn sasl_step(&mut self, message: String) -> anyhow::Result<String> {
        let version = self.version(ApiKey::SaslAuthenticate, 0, 2)?;
        let answer: SaslAuthenticateResponse = self
            .call(
                ApiKey::SaslAuthenticate,
                version,
                &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(message)),
            )
            .await?;
        anyhow::ensure!(
            answer.error_code == 0,
            "authenticating as the operator: {}",
            answer.error_message.as_deref().unwrap_or("refused")
        );
        Ok(String::from_utf8_lossy(&answer.auth_bytes).into_owned())
    }

    /// Sets `user`'s SCRAM-SHA-256 credential (a new one or a rotation).
    pub async fn set_scram(&mut self, user: &str, derived: &Derived) -> anyhow::Result<()> {
        let upsert = scram::ScramCredentialUpsertion::default()
            .with_name(text(user))
            .with_mechanism(SCRAM_SHA_256)
            .with_iterations(i32::try_from(derived.credential.iterations)?)
            .with_salt(Bytes::from(derived.credential.salt.clone()))
            .with_salted_password(Bytes::copy_from_slice(&derived.salted_password));
        let request = AlterUserScramCredentialsRequest::default().with_upsertions(vec![upsert]);
        self.alter_scram(request).await
    }

    /// Deletes `user`'s SCRAM-SHA-256 credential.
    pub async fn delete_scram(&mut self, user: &str) -> anyhow::Result<()> {
        let deletion = scram::ScramCredentialDeletion::default()
            .with_name(text(user))
            .with_mechanism(SCRAM_SHA_256);
        let request = AlterUserScramCredentialsRequest::default().with_deletions(vec![deletion]);
        self.alter_scram(request).await
    }

    async fn alter_scram(
        &mut self,
        request: AlterUserScramCredentialsRequest,
    ) -> anyhow::Result<()> {
        let response: AlterUserScramCredentialsResponse = self
            .call(ApiKey::AlterUserScramCredentials, 0, &request)
            .await?;
        for result in response.results {
            // RESOURCE_NOT_FOUND (91) on deleting what is not there.
            anyhow::ensure!(
                matches!(result.error_code, 0 | 91),
                "SCRAM credential of {}: error {} {}",
                result.user.as_str(),
                result.error_code,
                result.error_message.as_deref().unwrap_or("")
            );
        }
        Ok(())
    }

    /// Creates the ACLs of `door` for principal `User:user`.
    pub async fn grant(&mut self, door: &Door, user: &str) -> anyhow::Result<()> {
        let creations = door_acls(door)
            .into_iter()
            .map(|acl| {
                AclCreation::default()
                    .with_resource_type(acl.resource_type)
                    .with_resource_name(text(&acl.name))
                    .with_resource_pattern_type(acl.pattern)
                    .with_principal(text(&format!("User:{user}")))
                    .with_host(text("*"))
                    .with_operation(acl.operation)
                    .with_permission_type(acl::ALLOW)
            })
            .collect();
        let version = self.version(ApiKey::CreateAcls, 1, 3)?;
        let response: CreateAclsResponse = self
            .call(
                ApiKey::CreateAcls,
                version,
                &CreateAclsRequest::default().with_creations(creations),
            )
            .await?;
        for result in response.results {
            anyhow::ensure!(
                result.error_code == 0,
                "creating an ACL: error {} {}",
                result.error_code,
                result.error_message.as_deref().unwrap_or("")
            );
        }
        Ok(())
    }

    /// Deletes every ACL of principal `User:user`; how many there were.
    pub async fn revoke(&mut self, user: &str) -> anyhow::Result<usize> {
        let filter = DeleteAclsFilter::default()
            .with_resource_type_filter(acl::ANY)
            .with_pattern_type_filter(acl::ANY)
            .with_principal_filter(Some(text(&format!("User:{user}"))))
            .with_operation(acl::ANY)
            .with_permission_type(acl::ANY);
        let version = self.version(ApiKey::DeleteAcls, 1, 3)?;
        let response: DeleteAclsResponse = self
            .call(
                ApiKey::DeleteAcls,
                version,
                &DeleteAclsRequest::default().with_filters(vec![filter]),
            )
            .await?;
        let mut deleted = 0;
        for result in response.filter_results {
            anyhow::ensure!(
                result.error_code == 0,
                "deleting ACLs: error {}",
                result.error_code
            );
            deleted += result.matching_acls.len();
        }
        Ok(deleted)
    }

    /// Sets (or, with `None`, removes) `user`'s produce quota in bytes per second.
    pub async fn set_produce_quota(&mut self, user: &str, rate: Option<f64>) -> anyhow::Result<()> {
        let entry = quotas::EntryData::default()
            .with_entity(vec![
                quotas::EntityData::default()
                    .with_entity_type(text("user"))
                    .with_entity_name(Some(text(user))),
            ])
            .with_ops(vec![
                quotas::OpData::default()
                    .with_key(text("producer_byte_rate"))
                    .with_value(rate.unwrap_or(0.0))
                    .with_remove(rate.is_none()),
            ]);
        let version = self.version(ApiKey::AlterClientQuotas, 0, 1)?;
        let response: AlterClientQuotasResponse = self
            .call(
                ApiKey::AlterClientQuotas,
                version,
                &AlterClientQuotasRequest::default().with_entries(vec![entry]),
            )
            .await?;
        for entry in response.entries {
            anyhow::ensure!(
                entry.error_code == 0,
                "setting a quota: error {} {}",
                entry.error_code,
                entry.error_message.as_deref().unwrap_or("")
            );
        }
        Ok(())
    }

    /// The newest version of `key` both sides speak, at least `min`.
    fn version(&self, key: ApiKey, min: i16, max: i16) -> anyhow::Result<i16> {
        let theirs = self
            .versions
            .get(&(key as i16))
            .copied()
            .with_context(|| format!("this Kafka does not offer {key:?}"))?;
        let version = theirs.min(max).min(key.valid_versions().max);
        anyhow::ensure!(
            version >= min,
            "{key:?} v{theirs}: at least v{min} is needed"
        );
        Ok(version)
    }

    /// Sends one request at `version` and reads its answer (any API: the
    /// tests speak the protocol raw, as an attacker's own client would).
    pub async fn request<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        body: &Req,
    ) -> anyhow::Result<Resp> {
        self.call(key, version, body).await
    }

    async fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        body: &Req,
    ) -> anyhow::Result<Resp> {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(text("rfq-partners")));
        let frame = wire::request_frame(key, &header, body)?;
        let request = Request::parse(frame.clone())?;
        wire::write_frame(&mut self.writer, &frame).await?;
        let reply = wire::read_frame(&mut self.reader)
            .await?
            .with_context(|| format!("Kafka closed the connection on {key:?}"))?;
        request.decode_reply(&wire::Reply {
            frame: reply,
            to_client: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rfq_core::domain::PartnerName;

    #[test]
    fn a_doors_acls_are_its_rights() {
        let acls = door_acls(&PartnerName::parse("acme").unwrap().door());
        let has = |kind, name: &str, pattern, operation| {
            acls.contains(&Acl {
                resource_type: kind,
                name: name.to_owned(),
                pattern,
                operation,
            })
        };
        assert!(has(
            acl::TOPIC,
            "rfq.door.acme.rfqs",
            acl::LITERAL,
            acl::READ
        ));
        assert!(has(
            acl::TOPIC,
            "rfq.door.acme.answers",
            acl::LITERAL,
            acl::WRITE
        ));
        assert!(has(
            acl::TOPIC,
            "rfq.door.acme.heartbeats",
            acl::LITERAL,
            acl::WRITE
        ));
        assert!(has(acl::GROUP, "rfq.door.acme.", acl::PREFIXED, acl::READ));
        assert!(!has(
            acl::TOPIC,
            "rfq.door.acme.rfqs",
            acl::LITERAL,
            acl::WRITE
        ));
        assert_eq!(acls.len(), 8);
    }
}
