//! How much of the original a dead letter holds: the whole record, its
//! first bytes, or a reference to it when the broker refuses even those.

use super::{DeadLetter, MAX_COPIED_KEY, MAX_COPIED_VALUE};
use rdkafka::{error::KafkaError, types::RDKafkaErrorCode};

/// How much of the original a dead letter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CopyMode {
    /// Key and value as they were.
    Whole,
    /// The first bytes of each.
    Truncated,
    /// Neither: the headers refer to the original.
    Reference,
}

impl CopyMode {
    pub(super) fn of(letter: &DeadLetter<'_>) -> CopyMode {
        let long = |bytes: Option<&[u8]>, max: usize| bytes.is_some_and(|b| b.len() > max);
        if long(letter.value, MAX_COPIED_VALUE) || long(letter.key, MAX_COPIED_KEY) {
            CopyMode::Truncated
        } else {
            CopyMode::Whole
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            CopyMode::Whole => "whole",
            CopyMode::Truncated => "truncated",
            CopyMode::Reference => "reference",
        }
    }

    /// The key and value to write.
    pub(super) fn apply<'a>(self, letter: &DeadLetter<'a>) -> (Option<&'a [u8]>, Option<&'a [u8]>) {
        let cut = |bytes: Option<&'a [u8]>, max: usize| bytes.map(|b| b.get(..max).unwrap_or(b));
        match self {
            CopyMode::Whole => (letter.key, letter.value),
            CopyMode::Truncated => (
                cut(letter.key, MAX_COPIED_KEY),
                cut(letter.value, MAX_COPIED_VALUE),
            ),
            CopyMode::Reference => (None, None),
        }
    }
}

/// Whether the broker (or the client, checking before sending) refused
/// this record for what it is (its size, its form), so that sending it
/// again cannot succeed, as opposed to a failure of the moment.
pub(super) fn refused_for_good(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::MessageBatchTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
        )
    )
}
