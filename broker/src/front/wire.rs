//! Kafka's framing: a request or response is a 4-byte big-endian size and
//! that many bytes; a request starts with its header (API key, version,
//! correlation id, client id), a response with the correlation id.

use anyhow::Context as _;
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use kafka_protocol::{
    messages::{ApiKey, RequestHeader, ResponseHeader},
    protocol::{Decodable, Encodable},
};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// The largest frame read (Kafka's `socket.request.max.bytes` default).
pub const MAX_FRAME: usize = 100 * 1024 * 1024;

/// A request as a client sent it, its header decoded.
#[derive(Debug, Clone)]
pub struct Request {
    /// Which API.
    pub key: ApiKey,
    /// The header as decoded.
    pub header: RequestHeader,
    /// The whole frame (header and body), without the size.
    pub frame: Bytes,
    /// Where the body starts in `frame`.
    pub body_at: usize,
}

/// A response frame (header and body), without the size.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The frame's bytes.
    pub frame: Bytes,
    /// Whether the client is to get it (a produce with `acks=0` gets none).
    pub to_client: bool,
}

/// What a frame's first four bytes say about an API key the front does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown API key {0}")]
pub struct UnknownApiKey(pub i16);

impl Request {
    /// Decodes the header of `frame`.
    pub fn parse(frame: Bytes) -> anyhow::Result<Request> {
        anyhow::ensure!(frame.len() >= 8, "a request of {} bytes", frame.len());
        let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let key = ApiKey::try_from(raw_key).map_err(|()| UnknownApiKey(raw_key))?;
        let mut buf = frame.clone();
        // A version the front does not know still has a header it can read:
        // the newest known version's header is the one a newer version has.
        let known = key.valid_versions();
        let header_version = key.request_header_version(version.clamp(known.min, known.max));
        let header = RequestHeader::decode(&mut buf, header_version)
            .with_context(|| format!("the header of a {key:?} v{version} request"))?;
        let body_at = frame.len() - buf.remaining();
        Ok(Request {
            key,
            header,
            frame,
            body_at,
        })
    }

    /// The request's version.
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }

    /// Decodes the body as `T`.
    pub fn body<T: Decodable>(&self) -> anyhow::Result<T> {
        let mut buf = self.frame.slice(self.body_at..);
        T::decode(&mut buf, self.version())
            .with_context(|| format!("a {:?} v{} request", self.key, self.version()))
    }

    /// This request with `body` in place of its own (same header).
    pub fn with_body<T: Encodable>(&self, body: &T) -> anyhow::Result<Request> {
        let mut frame = BytesMut::with_capacity(self.frame.len());
        frame.put_slice(&self.frame[..self.body_at]);
        body.encode(&mut frame, self.version())
            .with_context(|| format!("encoding a {:?} v{} request", self.key, self.version()))?;
        Ok(Request {
            key: self.key,
            header: self.header.clone(),
            frame: frame.freeze(),
            body_at: self.body_at,
        })
    }

    /// A response to this request with `body`, at the request's version.
    pub fn reply<T: Encodable>(&self, body: &T) -> anyhow::Result<Reply> {
        self.reply_at(body, self.version())
    }

    /// A response to this request with `body`, encoded at `version`.
    pub fn reply_at<T: Encodable>(&self, body: &T, version: i16) -> anyhow::Result<Reply> {
        let mut frame = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(self.header.correlation_id)
            .encode(&mut frame, self.key.response_header_version(version))?;
        body.encode(&mut frame, version)
            .with_context(|| format!("encoding a {:?} v{version} response", self.key))?;
        Ok(Reply {
            frame: frame.freeze(),
            to_client: true,
        })
    }

    /// Decodes `reply`, a response to this request, as `T`.
    pub fn decode_reply<T: Decodable>(&self, reply: &Reply) -> anyhow::Result<T> {
        let mut buf = reply.frame.clone();
        ResponseHeader::decode(&mut buf, self.key.response_header_version(self.version()))
            .with_context(|| format!("the header of a {:?} response", self.key))?;
        T::decode(&mut buf, self.version())
            .with_context(|| format!("a {:?} v{} response", self.key, self.version()))
    }
}

/// Reads one frame; `None` at a clean end of the stream.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> anyhow::Result<Option<Bytes>> {
    let mut size = [0u8; 4];
    match reader.read_exact(&mut size).await {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error).context("reading a frame's size"),
    }
    let size = i32::from_be_bytes(size);
    let size = usize::try_from(size)
        .ok()
        .filter(|size| *size <= MAX_FRAME)
        .with_context(|| format!("a frame of {size} bytes (at most {MAX_FRAME})"))?;
    let mut frame = BytesMut::zeroed(size);
    reader
        .read_exact(&mut frame)
        .await
        .context("reading a frame")?;
    Ok(Some(frame.freeze()))
}

/// Writes one frame (its size, then its bytes).
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frame: &[u8],
) -> anyhow::Result<()> {
    let size = u32::try_from(frame.len()).context("a frame over 4 GiB")?;
    writer.write_all(&size.to_be_bytes()).await?;
    writer.write_all(frame).await?;
    writer.flush().await?;
    Ok(())
}

/// Encodes a whole request frame: `header` then `body`, at `header`'s version.
pub fn request_frame<T: Encodable>(
    key: ApiKey,
    header: &RequestHeader,
    body: &T,
) -> anyhow::Result<Bytes> {
    let version = header.request_api_version;
    let mut frame = BytesMut::new();
    header.encode(&mut frame, key.request_header_version(version))?;
    body.encode(&mut frame, version)?;
    Ok(frame.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::MetadataRequest;

    #[test]
    fn a_request_round_trips_and_a_short_one_is_refused() {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Metadata as i16)
            .with_request_api_version(9)
            .with_correlation_id(7)
            .with_client_id(Some("c".into()));
        let frame = request_frame(ApiKey::Metadata, &header, &MetadataRequest::default()).unwrap();
        let request = Request::parse(frame).unwrap();
        assert_eq!(request.key, ApiKey::Metadata);
        assert_eq!(request.version(), 9);
        assert_eq!(request.header.correlation_id, 7);
        let body: MetadataRequest = request.body().unwrap();
        assert_eq!(body, MetadataRequest::default());
        assert!(Request::parse(Bytes::from_static(&[0, 3, 0])).is_err());
        let unknown = Request::parse(Bytes::from_static(&[0x7f, 0, 0, 0, 0, 0, 0, 1])).unwrap_err();
        assert!(
            unknown.downcast_ref::<UnknownApiKey>().is_some(),
            "{unknown:#}"
        );
    }
}
