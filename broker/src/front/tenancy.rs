//! The tenancy filter: each request of an authenticated connection checked
//! against its principal's rights ([`access`]) before it reaches the
//! broker, and refused with the error a Kafka broker with ACLs gives
//! (`TOPIC_AUTHORIZATION_FAILED`, `GROUP_AUTHORIZATION_FAILED`,
//! `TRANSACTIONAL_ID_AUTHORIZATION_FAILED`), so a partner's standard
//! client reports it as it would on Apache Kafka.
//!
//! - Metadata is answered for the partner's own topics only: listing every
//!   topic shows its door's, naming another's gets
//!   `TOPIC_AUTHORIZATION_FAILED` whether it exists or not.
//! - A produce, fetch, offsets or group request naming anything the
//!   partner has no right to is refused whole (every partition of it).
//! - A request no partner has any use for (creating topics, configs, ACLs,
//!   replica fetches, transactions) closes the connection, and is logged.

pub mod access;
mod refusals;

use super::{Filter, Next, wire::Reply, wire::Request};
use access::Principal;
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, FetchRequest, FindCoordinatorRequest, HeartbeatRequest,
    InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest, ListOffsetsRequest,
    MetadataRequest, MetadataResponse, OffsetCommitRequest, OffsetFetchRequest,
    OffsetForLeaderEpochRequest, ProduceRequest, SyncGroupRequest,
    metadata_response::MetadataResponseTopic,
};
use rfq_core::domain::Operation;

/// `TOPIC_AUTHORIZATION_FAILED`.
pub const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
/// `GROUP_AUTHORIZATION_FAILED`.
pub const GROUP_AUTHORIZATION_FAILED: i16 = 30;
/// `TRANSACTIONAL_ID_AUTHORIZATION_FAILED`.
pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;

/// The tenancy filter; runs after authentication ([`super::sasl`]).
#[derive(Debug, Default)]
pub struct Tenancy;

#[async_trait::async_trait]
impl Filter for Tenancy {
    async fn handle(&self, request: Request, next: &mut Next<'_>) -> anyhow::Result<Reply> {
        let principal = match &next.session().principal {
            Some(Principal::Operator) => return next.run(request).await,
            Some(principal) => principal.clone(),
            None => anyhow::bail!("a {:?} request before authentication", request.key),
        };
        let refused = match request.key {
            ApiKey::Metadata => return metadata(&principal, request, next).await,
            ApiKey::Produce => {
                let body: ProduceRequest = request.body()?;
                let topics = || body.topic_data.iter().map(|t| t.name.0.as_str());
                (body.transactional_id.is_some() || !all(&principal, Operation::Write, topics()))
                    .then(|| refusals::produce(&request, &body))
            }
            ApiKey::Fetch => {
                let body: FetchRequest = request.body()?;
                anyhow::ensure!(body.replica_id.0 < 0, "a replica fetch from a partner");
                let topics = body.topics.iter().map(|t| t.topic.0.as_str());
                (!all(&principal, Operation::Read, topics))
                    .then(|| refusals::fetch(&request, &body))
            }
            ApiKey::ListOffsets => {
                let body: ListOffsetsRequest = request.body()?;
                let topics = body.topics.iter().map(|t| t.name.0.as_str());
                (!all(&principal, Operation::Describe, topics))
                    .then(|| refusals::list_offsets(&request, &body))
            }
            ApiKey::OffsetForLeaderEpoch => {
                let body: OffsetForLeaderEpochRequest = request.body()?;
                let topics = body.topics.iter().map(|t| t.topic.0.as_str());
                (!all(&principal, Operation::Describe, topics))
                    .then(|| refusals::leader_epoch(&request, &body))
            }
            ApiKey::FindCoordinator => {
                let body: FindCoordinatorRequest = request.body()?;
                let mut keys: Vec<&str> =
                    body.coordinator_keys.iter().map(|k| k.as_str()).collect();
                if request.version() < 4 {
                    keys = vec![body.key.as_str()];
                }
                let allowed = body.key_type == 0 && keys.iter().all(|k| principal.may_use_group(k));
                (!allowed).then(|| refusals::find_coordinator(&request, &body))
            }
            ApiKey::JoinGroup => {
                group::<JoinGroupRequest>(&principal, &request, |b| &b.group_id.0)?
            }
            ApiKey::SyncGroup => {
                group::<SyncGroupRequest>(&principal, &request, |b| &b.group_id.0)?
            }
            ApiKey::Heartbeat => {
                group::<HeartbeatRequest>(&principal, &request, |b| &b.group_id.0)?
            }
            ApiKey::LeaveGroup => {
                group::<LeaveGroupRequest>(&principal, &request, |b| &b.group_id.0)?
            }
            ApiKey::OffsetCommit => {
                let body: OffsetCommitRequest = request.body()?;
                let topics = body.topics.iter().map(|t| t.name.0.as_str());
                let group_ok = principal.may_use_group(&body.group_id.0);
                (!(group_ok && all(&principal, Operation::Read, topics)))
                    .then(|| refusals::offset_commit(&request, &body, group_ok))
            }
            ApiKey::OffsetFetch => {
                let body: OffsetFetchRequest = request.body()?;
                let allowed = if request.version() >= 8 {
                    body.groups
                        .iter()
                        .all(|g| principal.may_use_group(&g.group_id.0))
                } else {
                    principal.may_use_group(&body.group_id.0)
                };
                (!allowed).then(|| refusals::offset_fetch(&request, &body))
            }
            ApiKey::DescribeGroups => {
                let body: DescribeGroupsRequest = request.body()?;
                let allowed = body.groups.iter().all(|g| principal.may_use_group(&g.0));
                (!allowed).then(|| refusals::describe_groups(&request, &body))
            }
            ApiKey::InitProducerId => {
                let body: InitProducerIdRequest = request.body()?;
                (body.transactional_id.is_some() && !principal.may_transact())
                    .then(|| refusals::init_producer_id(&request))
            }
            other => anyhow::bail!(
                "partner {} sent a {other:?} request: no partner may (connection closed)",
                principal.name()
            ),
        };
        match refused {
            Some(reply) => {
                tracing::info!(partner = %principal.name(), key = ?request.key, "refused: not the partner's");
                reply
            }
            None => next.run(request).await,
        }
    }
}

/// Whether `principal` may `used` every one of `topics`.
fn all<'a>(
    principal: &Principal,
    used: Operation,
    mut topics: impl Iterator<Item = &'a str>,
) -> bool {
    topics.all(|topic| principal.may(used, topic))
}

/// A group request (join, sync, heartbeat, leave): refused unless its group
/// is the principal's.
fn group<T: kafka_protocol::protocol::Decodable>(
    principal: &Principal,
    request: &Request,
    group_of: impl Fn(&T) -> &str,
) -> anyhow::Result<Option<anyhow::Result<Reply>>> {
    let body: T = request.body()?;
    Ok((!principal.may_use_group(group_of(&body))).then(|| refusals::group(request)))
}

/// Metadata, answered for the principal's topics only.
async fn metadata(
    principal: &Principal,
    request: Request,
    next: &mut Next<'_>,
) -> anyhow::Result<Reply> {
    let body: MetadataRequest = request.body()?;
    let named: Option<Vec<String>> = body.topics.as_ref().map(|topics| {
        topics
            .iter()
            .filter_map(|topic| topic.name.as_ref().map(|name| name.0.to_string()))
            .collect()
    });
    let reply = next.run(request.clone()).await?;
    let mut response: MetadataResponse = request.decode_reply(&reply)?;
    let visible = |topic: &MetadataResponseTopic| {
        topic
            .name
            .as_ref()
            .is_some_and(|name| principal.may(Operation::Describe, name.0.as_str()))
    };
    response.topics.retain(visible);
    if let Some(named) = named {
        for name in named
            .iter()
            .filter(|name| !principal.may(Operation::Describe, name))
        {
            response.topics.push(
                MetadataResponseTopic::default()
                    .with_name(Some(kafka_protocol::messages::TopicName(
                        kafka_protocol::protocol::StrBytes::from_string(name.clone()),
                    )))
                    .with_error_code(TOPIC_AUTHORIZATION_FAILED),
            );
        }
    }
    request.reply(&response)
}
