//! What a dead letter says of itself: its header names, and the bounds on
//! what it copies of the original and of the reason.

/// Header names on dead-letter records.
///
/// A dead letter carries the original key and value when they are small
/// enough ([`COPY`](Self::COPY) `whole`), so that it can be replayed; a
/// larger value is cut to its first [`MAX_COPIED_VALUE`] bytes (and a key
/// to [`MAX_COPIED_KEY`]; `truncated`), and a record the broker still
/// refuses is replaced by a reference to the original (no key, no value;
/// `reference`). The source headers always say where the original is and
/// how large it was.
pub struct DeadLetterHeaders;

impl DeadLetterHeaders {
    /// Why the record was refused (at most [`MAX_REASON`] bytes).
    pub const REASON: &'static str = "rfq.dlq.reason";
    /// The kind of reason: one of
    /// [`DeadLetterKind::ALL`](super::DeadLetterKind::ALL), as in the metric.
    pub const KIND: &'static str = "rfq.dlq.kind";
    /// Which component refused it.
    pub const COMPONENT: &'static str = "rfq.dlq.component";
    /// Topic it was read from.
    pub const TOPIC: &'static str = "rfq.dlq.source.topic";
    /// Partition it was read from.
    pub const PARTITION: &'static str = "rfq.dlq.source.partition";
    /// Offset it was read from.
    pub const OFFSET: &'static str = "rfq.dlq.source.offset";
    /// Size of the original value in bytes (0 when it had none).
    pub const SIZE: &'static str = "rfq.dlq.source.size";
    /// Size of the original key in bytes (0 when it had none).
    pub const KEY_SIZE: &'static str = "rfq.dlq.source.key-size";
    /// How much of the original the dead letter holds: `whole`, `truncated`
    /// (the first bytes of the value and key; the sizes say how many the
    /// original had) or `reference` (neither key nor value).
    pub const COPY: &'static str = "rfq.dlq.copy";
    /// On a `reference`: the broker's refusal of the copy.
    pub const REFUSED: &'static str = "rfq.dlq.copy.refused";
    /// For an answer that could not be delivered: the topic it was for.
    pub const DESTINATION_TOPIC: &'static str = "rfq.dlq.destination.topic";
    /// For an answer that could not be delivered: the partition it was for.
    pub const DESTINATION_PARTITION: &'static str = "rfq.dlq.destination.partition";
    /// The provider the record is from or for, when it could be read (a
    /// partner filters its own dead letters by it).
    pub const PROVIDER: &'static str = "rfq.dlq.provider";
    /// The partner whose door refused the record (`rfq.door.NAME.…`).
    pub const PARTNER: &'static str = "rfq.dlq.partner";
}

/// Most bytes of the original value a dead letter carries: well under the
/// 1 MiB a broker accepts by default (`message.max.bytes`), leaving room
/// for the key and the headers, so that the dead letter of a record the
/// broker accepted is accepted too.
pub const MAX_COPIED_VALUE: usize = 64 * 1024;

/// Most bytes of the original key a dead letter carries. Our keys are
/// regions, ids and correlation ids: a longer key is not one of ours.
pub const MAX_COPIED_KEY: usize = 4 * 1024;

/// Most bytes of a reason written into the headers and the log. Reasons
/// may quote the record (an invalid id, say), which may be large.
pub const MAX_REASON: usize = 2 * 1024;

/// At most `max` bytes of `text`, cut at a character boundary and marked.
pub fn bounded(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len()).into()
}
