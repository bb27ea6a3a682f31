//! The answers of a refusal: each API's own response, with the
//! authorization error where a Kafka broker with ACLs puts it.

use super::{
    GROUP_AUTHORIZATION_FAILED as GROUP, TOPIC_AUTHORIZATION_FAILED as TOPIC,
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED as TRANSACTIONAL,
};
use crate::front::wire::{Reply, Request};
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, FetchRequest, FetchResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatResponse, InitProducerIdResponse,
    JoinGroupResponse, LeaveGroupResponse, ListOffsetsRequest, ListOffsetsResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, ProduceRequest, ProduceResponse,
    SyncGroupResponse, describe_groups_response::DescribedGroup, fetch_response,
    find_coordinator_response, list_offsets_response, offset_commit_response,
    offset_fetch_response, offset_for_leader_epoch_response, produce_response,
};

/// Every partition of a produce: `TOPIC_AUTHORIZATION_FAILED` (or the
/// transactional error for a transactional produce).
pub fn produce(request: &Request, body: &ProduceRequest) -> anyhow::Result<Reply> {
    let code = if body.transactional_id.is_some() {
        TRANSACTIONAL
    } else {
        TOPIC
    };
    let responses = body
        .topic_data
        .iter()
        .map(|topic| {
            produce_response::TopicProduceResponse::default()
                .with_name(topic.name.clone())
                .with_partition_responses(
                    topic
                        .partition_data
                        .iter()
                        .map(|partition| {
                            produce_response::PartitionProduceResponse::default()
                                .with_index(partition.index)
                                .with_error_code(code)
                                .with_base_offset(-1)
                                .with_log_append_time_ms(-1)
                                .with_log_start_offset(-1)
                        })
                        .collect(),
                )
        })
        .collect();
    let mut reply = request.reply(&ProduceResponse::default().with_responses(responses))?;
    reply.to_client = body.acks != 0;
    Ok(reply)
}

/// Every partition of a fetch: `TOPIC_AUTHORIZATION_FAILED`.
pub fn fetch(request: &Request, body: &FetchRequest) -> anyhow::Result<Reply> {
    let responses = body
        .topics
        .iter()
        .map(|topic| {
            fetch_response::FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(
                    topic
                        .partitions
                        .iter()
                        .map(|partition| {
                            fetch_response::PartitionData::default()
                                .with_partition_index(partition.partition)
                                .with_error_code(TOPIC)
                                .with_high_watermark(-1)
                                .with_last_stable_offset(-1)
                                .with_log_start_offset(-1)
                        })
                        .collect(),
                )
        })
        .collect();
    request.reply(&FetchResponse::default().with_responses(responses))
}

/// Every partition of a ListOffsets: `TOPIC_AUTHORIZATION_FAILED`.
pub fn list_offsets(request: &Request, body: &ListOffsetsRequest) -> anyhow::Result<Reply> {
    let topics = body
        .topics
        .iter()
        .map(|topic| {
            list_offsets_response::ListOffsetsTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(
                    topic
                        .partitions
                        .iter()
                        .map(|partition| {
                            list_offsets_response::ListOffsetsPartitionResponse::default()
                                .with_partition_index(partition.partition_index)
                                .with_error_code(TOPIC)
                                .with_timestamp(-1)
                                .with_offset(-1)
                        })
                        .collect(),
                )
        })
        .collect();
    request.reply(&ListOffsetsResponse::default().with_topics(topics))
}

/// Every partition of an OffsetForLeaderEpoch: `TOPIC_AUTHORIZATION_FAILED`.
pub fn leader_epoch(
    request: &Request,
    body: &OffsetForLeaderEpochRequest,
) -> anyhow::Result<Reply> {
    let topics = body
        .topics
        .iter()
        .map(|topic| {
            offset_for_leader_epoch_response::OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic.clone())
                .with_partitions(
                    topic
                        .partitions
                        .iter()
                        .map(|partition| {
                            offset_for_leader_epoch_response::EpochEndOffset::default()
                                .with_partition(partition.partition)
                                .with_error_code(TOPIC)
                                .with_leader_epoch(-1)
                                .with_end_offset(-1)
                        })
                        .collect(),
                )
        })
        .collect();
    request.reply(&OffsetForLeaderEpochResponse::default().with_topics(topics))
}

/// A coordinator lookup: `GROUP_AUTHORIZATION_FAILED` for a group key,
/// the transactional error for a transaction's.
pub fn find_coordinator(request: &Request, body: &FindCoordinatorRequest) -> anyhow::Result<Reply> {
    let code = if body.key_type == 0 {
        GROUP
    } else {
        TRANSACTIONAL
    };
    let response = if request.version() >= 4 {
        FindCoordinatorResponse::default().with_coordinators(
            body.coordinator_keys
                .iter()
                .map(|key| {
                    find_coordinator_response::Coordinator::default()
                        .with_key(key.clone())
                        .with_node_id((-1).into())
                        .with_port(-1)
                        .with_error_code(code)
                })
                .collect(),
        )
    } else {
        FindCoordinatorResponse::default()
            .with_error_code(code)
            .with_node_id((-1).into())
            .with_port(-1)
    };
    request.reply(&response)
}

/// Join, sync, heartbeat or leave: `GROUP_AUTHORIZATION_FAILED`.
pub fn group(request: &Request) -> anyhow::Result<Reply> {
    match request.key {
        ApiKey::JoinGroup => request.reply(&JoinGroupResponse::default().with_error_code(GROUP)),
        ApiKey::SyncGroup => request.reply(&SyncGroupResponse::default().with_error_code(GROUP)),
        ApiKey::Heartbeat => request.reply(&HeartbeatResponse::default().with_error_code(GROUP)),
        ApiKey::LeaveGroup => request.reply(&LeaveGroupResponse::default().with_error_code(GROUP)),
        other => anyhow::bail!("{other:?} is not a group request"),
    }
}

/// Every partition of an offset commit: the group's error, or the topic's.
pub fn offset_commit(
    request: &Request,
    body: &OffsetCommitRequest,
    group_ok: bool,
) -> anyhow::Result<Reply> {
    let code = if group_ok { TOPIC } else { GROUP };
    let topics = body
        .topics
        .iter()
        .map(|topic| {
            offset_commit_response::OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(
                    topic
                        .partitions
                        .iter()
                        .map(|partition| {
                            offset_commit_response::OffsetCommitResponsePartition::default()
                                .with_partition_index(partition.partition_index)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    request.reply(&OffsetCommitResponse::default().with_topics(topics))
}

/// An offset fetch: `GROUP_AUTHORIZATION_FAILED` (per group from v8).
pub fn offset_fetch(request: &Request, body: &OffsetFetchRequest) -> anyhow::Result<Reply> {
    let response = if request.version() >= 8 {
        OffsetFetchResponse::default().with_groups(
            body.groups
                .iter()
                .map(|group| {
                    offset_fetch_response::OffsetFetchResponseGroup::default()
                        .with_group_id(group.group_id.clone())
                        .with_error_code(GROUP)
                })
                .collect(),
        )
    } else {
        // v0 and v1 have no top-level error: each partition carries it.
        let topics = body
            .topics
            .iter()
            .flatten()
            .map(|topic| {
                offset_fetch_response::OffsetFetchResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_partitions(
                        topic
                            .partition_indexes
                            .iter()
                            .map(|index| {
                                offset_fetch_response::OffsetFetchResponsePartition::default()
                                    .with_partition_index(*index)
                                    .with_committed_offset(-1)
                                    .with_error_code(GROUP)
                            })
                            .collect(),
                    )
            })
            .collect();
        OffsetFetchResponse::default()
            .with_topics(topics)
            .with_error_code(GROUP)
    };
    request.reply(&response)
}

/// Every group of a DescribeGroups: `GROUP_AUTHORIZATION_FAILED`.
pub fn describe_groups(request: &Request, body: &DescribeGroupsRequest) -> anyhow::Result<Reply> {
    let groups = body
        .groups
        .iter()
        .map(|group| {
            DescribedGroup::default()
                .with_group_id(group.clone())
                .with_error_code(GROUP)
        })
        .collect();
    request.reply(&DescribeGroupsResponse::default().with_groups(groups))
}

/// A transactional producer id: `TRANSACTIONAL_ID_AUTHORIZATION_FAILED`.
pub fn init_producer_id(request: &Request) -> anyhow::Result<Reply> {
    request.reply(
        &InitProducerIdResponse::default()
            .with_error_code(TRANSACTIONAL)
            .with_producer_id((-1).into())
            .with_producer_epoch(-1),
    )
}
