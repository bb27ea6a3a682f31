//! Record batches as a producer sends them: what the broker behind the
//! front can store and serve back, what must be transcoded first, and what
//! is refused with the protocol's error.
//!
//! tansu 0.6 inflates every batch when it stores it and deflates it again,
//! with the batch's own codec, each time it serves it. It cannot deflate
//! snappy (the partition then cannot be read past that batch: the wedge),
//! and its lz4 frames are not ones Apache Kafka's Java client reads. So a
//! snappy or lz4 batch is rewritten uncompressed here, record for record
//! (offsets, timestamps, producer id, epoch and sequence kept; a new CRC),
//! before the broker sees it. none, gzip and zstd go through untouched.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};

/// `CORRUPT_MESSAGE`.
pub const CORRUPT_MESSAGE: i16 = 2;
/// `INVALID_TXN_STATE`.
pub const INVALID_TXN_STATE: i16 = 48;
/// `UNSUPPORTED_COMPRESSION_TYPE`.
pub const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
/// `INVALID_RECORD`.
pub const INVALID_RECORD: i16 = 87;

/// The size of a v2 batch's header, up to its first record.
const HEADER: usize = 61;

/// Why a partition's batches are refused: the error code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The protocol's error code.
    pub code: i16,
    /// What was wrong, for the client's log.
    pub message: String,
}

fn refuse(code: i16, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// The batches of one partition of a produce request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// What to send on: the batches as given, or transcoded.
    pub records: Bytes,
    /// How many offsets they take.
    pub offsets: i64,
    /// Whether any batch was transcoded.
    pub transcoded: bool,
}

/// Checks the batches `records` of one partition; `transactional` says
/// whether the produce request carries a transactional id.
pub fn check(records: &Bytes, transactional: bool) -> Result<Checked, Refusal> {
    if records.is_empty() {
        return Err(refuse(CORRUPT_MESSAGE, "no record batch"));
    }
    let mut at = 0;
    let mut offsets = 0i64;
    let mut out: Option<BytesMut> = None;
    while at < records.len() {
        let rest = &records[at..];
        if rest.len() < HEADER {
            return Err(refuse(
                CORRUPT_MESSAGE,
                format!("a batch cut short at byte {at}"),
            ));
        }
        let length = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let size = usize::try_from(length)
            .ok()
            .and_then(|length| length.checked_add(12))
            .filter(|size| (HEADER..=rest.len()).contains(size))
            .ok_or_else(|| {
                refuse(
                    CORRUPT_MESSAGE,
                    format!("a batch of length {length} in {} bytes", rest.len()),
                )
            })?;
        let batch = records.slice(at..at + size);
        if batch[16] != 2 {
            return Err(refuse(
                CORRUPT_MESSAGE,
                format!("record batch magic {} (only 2 is stored)", batch[16]),
            ));
        }
        let crc = u32::from_be_bytes([batch[17], batch[18], batch[19], batch[20]]);
        if crc32c::crc32c(&batch[21..]) != crc {
            return Err(refuse(
                CORRUPT_MESSAGE,
                "the batch's CRC does not match its contents",
            ));
        }
        let attributes = i16::from_be_bytes([batch[21], batch[22]]);
        let last_offset_delta = i32::from_be_bytes([batch[23], batch[24], batch[25], batch[26]]);
        let count = i32::from_be_bytes([batch[57], batch[58], batch[59], batch[60]]);
        if count <= 0 {
            return Err(refuse(INVALID_RECORD, "a batch with no records"));
        }
        if last_offset_delta < count - 1 {
            return Err(refuse(
                CORRUPT_MESSAGE,
                format!(
                    "{count} records in {} offsets",
                    i64::from(last_offset_delta) + 1
                ),
            ));
        }
        if attributes & (1 << 5) != 0 {
            return Err(refuse(
                INVALID_RECORD,
                "clients may not write control batches",
            ));
        }
        if attributes & (1 << 4) != 0 && !transactional {
            return Err(refuse(
                INVALID_TXN_STATE,
                "a transactional batch outside a transaction",
            ));
        }
        offsets += i64::from(last_offset_delta) + 1;
        let transcode = match attributes & 0b111 {
            0 | 1 | 4 => false,
            2 | 3 => true,
            other => {
                return Err(refuse(
                    UNSUPPORTED_COMPRESSION_TYPE,
                    format!("compression type {other}"),
                ));
            }
        };
        match (transcode, &mut out) {
            (true, _) => {
                let written = out.get_or_insert_with(|| BytesMut::from(&records[..at]));
                uncompressed(&batch, count, written)?;
            }
            (false, Some(written)) => written.extend_from_slice(&batch),
            (false, None) => {}
        }
        at += size;
    }
    Ok(match out {
        Some(written) => Checked {
            records: written.freeze(),
            offsets,
            transcoded: true,
        },
        None => Checked {
            records: records.clone(),
            offsets,
            transcoded: false,
        },
    })
}

/// Appends `batch` to `out` with its records uncompressed.
fn uncompressed(batch: &Bytes, count: i32, out: &mut BytesMut) -> Result<(), Refusal> {
    let mut buf = batch.clone();
    let set = RecordBatchDecoder::decode(&mut buf).map_err(|error| {
        refuse(
            CORRUPT_MESSAGE,
            format!("the batch does not decompress: {error:#}"),
        )
    })?;
    if usize::try_from(count).ok() != Some(set.records.len()) {
        return Err(refuse(
            CORRUPT_MESSAGE,
            format!("a batch of {count} records holds {}", set.records.len()),
        ));
    }
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(out, &set.records, &options)
        .map_err(|error| refuse(CORRUPT_MESSAGE, format!("re-encoding the batch: {error:#}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use indexmap::IndexMap;
    use kafka_protocol::records::{Record, TimestampType};

    /// A producer's batch of `count` records with `compression`.
    pub(crate) fn batch(compression: Compression, count: i64, value_size: usize) -> Bytes {
        let records: Vec<Record> = (0..count)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: 42,
                producer_epoch: 1,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: 7 + i as i32,
                timestamp: 1_700_000_000_000 + i,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(vec![b'v'; value_size])),
                headers: IndexMap::new(),
            })
            .collect();
        let mut out = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut out,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .unwrap();
        out.freeze()
    }

    #[test]
    fn none_gzip_and_zstd_pass_snappy_and_lz4_are_transcoded_record_for_record() {
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let given = batch(compression, 3, 10);
            let checked = check(&given, false).unwrap();
            assert_eq!(
                (checked.records, checked.offsets, checked.transcoded),
                (given, 3, false)
            );
        }
        for compression in [Compression::Snappy, Compression::Lz4] {
            let given = batch(compression, 5, 2000);
            let checked = check(&given, false).unwrap();
            assert!(checked.transcoded);
            assert_eq!(checked.offsets, 5);
            assert_eq!(checked.records[21..23], [0, 0], "uncompressed now");
            let back = RecordBatchDecoder::decode(&mut checked.records.clone()).unwrap();
            let original = RecordBatchDecoder::decode(&mut given.clone()).unwrap();
            assert_eq!(back.records, original.records, "{compression:?}");
            // Valid for the next check too (CRC recomputed).
            assert!(!check(&checked.records, false).unwrap().transcoded);
        }
    }

    #[test]
    fn two_batches_keep_their_order_when_one_is_transcoded() {
        let mut both = BytesMut::from(&batch(Compression::None, 2, 5)[..]);
        both.extend_from_slice(&batch(Compression::Snappy, 3, 5));
        let checked = check(&both.freeze(), false).unwrap();
        assert_eq!(checked.offsets, 5);
        let sets = RecordBatchDecoder::decode_all(&mut checked.records.clone()).unwrap();
        assert_eq!(
            sets.iter().map(|s| s.records.len()).collect::<Vec<_>>(),
            [2, 3]
        );
    }

    #[test]
    fn bad_batches_are_refused_with_the_protocols_codes() {
        let good = batch(Compression::None, 2, 5);
        assert_eq!(
            check(&Bytes::new(), false).unwrap_err().code,
            CORRUPT_MESSAGE
        );
        assert_eq!(
            check(&good.slice(..40), false).unwrap_err().code,
            CORRUPT_MESSAGE
        );
        let mut flipped = BytesMut::from(&good[..]);
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            check(&flipped.freeze(), false).unwrap_err().code,
            CORRUPT_MESSAGE
        );

        let with_attributes = |set: i16, count: Option<i32>| {
            let mut changed = BytesMut::from(&good[..]);
            let attributes = i16::from_be_bytes([changed[21], changed[22]]) | set;
            changed[21..23].copy_from_slice(&attributes.to_be_bytes());
            if let Some(count) = count {
                changed[57..61].copy_from_slice(&count.to_be_bytes());
            }
            let crc = crc32c::crc32c(&changed[21..]);
            changed[17..21].copy_from_slice(&crc.to_be_bytes());
            changed.freeze()
        };
        assert_eq!(
            check(&with_attributes(1 << 5, None), false)
                .unwrap_err()
                .code,
            INVALID_RECORD
        );
        assert_eq!(
            check(&with_attributes(1 << 4, None), false)
                .unwrap_err()
                .code,
            INVALID_TXN_STATE
        );
        assert!(check(&with_attributes(1 << 4, None), true).is_ok());
        assert_eq!(
            check(&with_attributes(0, Some(0)), false).unwrap_err().code,
            INVALID_RECORD
        );
        assert_eq!(
            check(&with_attributes(5, None), false).unwrap_err().code,
            UNSUPPORTED_COMPRESSION_TYPE
        );
    }
}
