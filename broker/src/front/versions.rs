//! ApiVersions, answered by the front: the versions both the broker behind
//! it and the front can read, and for a version of ApiVersions itself that
//! neither knows, the answer KIP-511 prescribes (`UNSUPPORTED_VERSION` in
//! a v0 response listing what is supported, so the client retries at a
//! version it can use) instead of a closed socket.

use super::{Filter, Next, wire::Reply, wire::Request};
use anyhow::Context as _;
use kafka_protocol::{
    messages::{
        ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader,
        api_versions_response::ApiVersion,
    },
    protocol::Decodable as _,
};

/// `UNSUPPORTED_VERSION`.
const UNSUPPORTED_VERSION: i16 = 35;
/// `INVALID_REQUEST`.
const INVALID_REQUEST: i16 = 42;

/// Versions the front offers below what the broker behind it can do.
/// Fetch stops at v11 and Produce at v8, the last versions before
/// flexible ones: in those tansu 0.6 writes tagged fields the versions do
/// not have (`NodeEndpoints` in a Fetch v12 response), which the front
/// must read to park fetches and learn ends (clients skip them). Produce
/// starts at v3: older ones carry message sets (magic 0 and 1) tansu
/// cannot store.
const CAPS: &[(ApiKey, i16, i16)] = &[(ApiKey::Fetch, 4, 11), (ApiKey::Produce, 3, 8)];

/// APIs the front does not offer although tansu answers them: client
/// telemetry (KIP-714). librdkafka asked tansu for its subscription about
/// twice a second per client, idle; a broker that does not offer it is
/// never asked.
const LEFT_OUT: &[ApiKey] = &[ApiKey::GetTelemetrySubscriptions, ApiKey::PushTelemetry];

/// The API versions the front answers with.
#[derive(Debug, Clone)]
pub struct Versions {
    supported: Vec<ApiVersion>,
}

impl Versions {
    /// What `upstream` (the broker's own ApiVersions answer) and the front
    /// can both read, within the front's caps.
    pub fn new(upstream: &[ApiVersion]) -> Versions {
        let supported = upstream
            .iter()
            .filter_map(|theirs| {
                let key = ApiKey::try_from(theirs.api_key).ok()?;
                if LEFT_OUT.contains(&key) {
                    return None;
                }
                let ours = key.valid_versions();
                let (cap_min, cap_max) = CAPS
                    .iter()
                    .find(|(capped, _, _)| *capped == key)
                    .map_or((i16::MIN, i16::MAX), |(_, min, max)| (*min, *max));
                let min = theirs.min_version.max(ours.min).max(cap_min);
                let max = theirs.max_version.min(ours.max).min(cap_max);
                let max = if key == ApiKey::ApiVersions {
                    ours.max
                } else {
                    max
                };
                (min <= max).then(|| {
                    ApiVersion::default()
                        .with_api_key(theirs.api_key)
                        .with_min_version(min)
                        .with_max_version(max)
                })
            })
            .collect();
        Versions { supported }
    }

    /// Offers the SASL requests the front answers itself (whatever the
    /// broker behind it offers): SaslHandshake v0 and v1, SaslAuthenticate
    /// v0 to v2, as Kafka does. v0 is offered because older librdkafka
    /// (Debian's kcat) looks for it before using v1; a client that then
    /// sends the exchange outside Kafka's framing (the v0 way, before
    /// SaslAuthenticate existed) is not understood and disconnected.
    pub fn offer_sasl(&mut self) {
        let ours = [
            (ApiKey::SaslHandshake, 0, 1),
            (ApiKey::SaslAuthenticate, 0, 2),
        ];
        self.supported.retain(|offered| {
            !ours
                .iter()
                .any(|(key, _, _)| *key as i16 == offered.api_key)
        });
        for (key, min, max) in ours {
            self.supported.push(
                ApiVersion::default()
                    .with_api_key(key as i16)
                    .with_min_version(min)
                    .with_max_version(max),
            );
        }
    }

    /// Asks the broker at `addr` for its versions (ApiVersions v0).
    pub async fn ask(addr: std::net::SocketAddr) -> anyhow::Result<Vec<ApiVersion>> {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to the broker at {addr}"))?;
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::ApiVersions as i16)
            .with_request_api_version(0)
            .with_correlation_id(1)
            .with_client_id(Some("rfq-front".into()));
        let frame = super::wire::request_frame(
            ApiKey::ApiVersions,
            &header,
            &ApiVersionsRequest::default(),
        )?;
        super::wire::write_frame(&mut stream, &frame).await?;
        let mut reply = super::wire::read_frame(&mut stream)
            .await?
            .context("the broker closed the connection")?;
        anyhow::ensure!(reply.len() >= 4, "a reply of {} bytes", reply.len());
        let _correlation = reply.split_to(4);
        let response = ApiVersionsResponse::decode(&mut reply, 0)?;
        anyhow::ensure!(
            response.error_code == 0,
            "the broker's ApiVersions answered error {}",
            response.error_code
        );
        Ok(response.api_keys)
    }

    /// The versions offered for `key`, if any.
    pub fn range(&self, key: ApiKey) -> Option<(i16, i16)> {
        self.supported
            .iter()
            .find(|version| version.api_key == key as i16)
            .map(|version| (version.min_version, version.max_version))
    }

    /// The answer to an ApiVersions request.
    fn answer(&self, request: &Request) -> anyhow::Result<Reply> {
        let known = ApiKey::ApiVersions.valid_versions();
        let response = ApiVersionsResponse::default().with_api_keys(self.supported.clone());
        if request.version() > known.max || request.version() < known.min {
            // KIP-511: a v0 response, whatever version was asked for.
            return request.reply_at(&response.with_error_code(UNSUPPORTED_VERSION), 0);
        }
        match request.body::<ApiVersionsRequest>() {
            Ok(_) => request.reply(&response),
            Err(error) => {
                tracing::debug!(error = %format!("{error:#}"), "an ApiVersions request the front cannot read");
                request.reply(&response.with_error_code(INVALID_REQUEST))
            }
        }
    }
}

#[async_trait::async_trait]
impl Filter for Versions {
    async fn handle(&self, request: Request, next: &mut Next<'_>) -> anyhow::Result<Reply> {
        match request.key {
            ApiKey::ApiVersions => self.answer(&request),
            _ => next.run(request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::wire::request_frame;

    fn version(key: ApiKey, min: i16, max: i16) -> ApiVersion {
        ApiVersion::default()
            .with_api_key(key as i16)
            .with_min_version(min)
            .with_max_version(max)
    }

    fn ask(versions: &Versions, asked: i16) -> ApiVersionsResponse {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::ApiVersions as i16)
            .with_request_api_version(asked)
            .with_correlation_id(3);
        // A version the crate cannot encode is sent as v4's body.
        let frame = request_frame(
            ApiKey::ApiVersions,
            &header.clone().with_request_api_version(asked.min(4)),
            &ApiVersionsRequest::default()
                .with_client_software_name("t".into())
                .with_client_software_version("1".into()),
        )
        .unwrap();
        let mut frame = bytes::BytesMut::from(&frame[..]);
        frame[2..4].copy_from_slice(&asked.to_be_bytes());
        let request = Request::parse(frame.freeze()).unwrap();
        let reply = versions.answer(&request).unwrap();
        let mut buf = reply.frame.clone();
        // ApiVersions responses keep header v0 (the correlation id alone), even when flexible.
        assert_eq!(buf.split_to(4)[..], 3i32.to_be_bytes(), "correlation id");
        let answered_at = if asked > 4 { 0 } else { asked };
        ApiVersionsResponse::decode(&mut buf, answered_at).unwrap()
    }

    #[test]
    fn versions_are_what_both_sides_read_and_an_unknown_version_gets_kip_511() {
        let versions = Versions::new(&[
            version(ApiKey::Fetch, 0, 17),
            version(ApiKey::Produce, 0, 11),
            version(ApiKey::ApiVersions, 0, 3),
            version(ApiKey::Metadata, 0, 12),
            version(ApiKey::GetTelemetrySubscriptions, 0, 0),
        ]);
        assert_eq!(versions.range(ApiKey::Fetch), Some((4, 11)));
        assert_eq!(versions.range(ApiKey::Produce), Some((3, 8)));
        assert_eq!(versions.range(ApiKey::ApiVersions), Some((0, 4)));
        assert_eq!(versions.range(ApiKey::Metadata), Some((0, 12)));
        assert_eq!(versions.range(ApiKey::JoinGroup), None);
        assert_eq!(versions.range(ApiKey::GetTelemetrySubscriptions), None);

        let current = ask(&versions, 3);
        assert_eq!(current.error_code, 0);
        assert_eq!(current.api_keys.len(), 4);
        let future = ask(&versions, 5);
        assert_eq!(future.error_code, UNSUPPORTED_VERSION);
        assert!(
            future
                .api_keys
                .iter()
                .any(|v| v.api_key == ApiKey::ApiVersions as i16 && v.max_version == 4)
        );
    }
}
