//! Server-Sent Events read as a browser's `EventSource` reads them (the
//! `text/event-stream` format of the HTML standard): the one parser of the
//! live events (`GET /rfqs/{id}/events`) for whatever reads them outside the
//! API, the integration tests and `rfq bench` alike (their HTTP client is
//! `rfq_bench::live::EventStream`). Free of I/O: fed the bytes as they
//! arrive, in chunks cut anywhere, it gives each event once it is whole.

/// One event as a client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:`; `message` when the event names none.
    pub event: String,
    /// `id:`; empty when the event has none.
    pub id: String,
    /// `data:`, its lines joined by `\n`.
    pub data: String,
}

/// Takes a stream's bytes as they arrive and gives its whole events.
#[derive(Debug, Default)]
pub struct SseReader {
    /// Bytes read but not yet a whole event (a chunk may end anywhere, in a
    /// line or in a character).
    pending: Vec<u8>,
}

impl SseReader {
    /// Adds `chunk` and returns the events it completed, in order.
    /// Comments (keep-alives, `:` lines) and blocks without a field are
    /// skipped.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = block_end(&self.pending) {
            let block: Vec<u8> = self.pending.drain(..end).collect();
            if let Some(event) = parse_block(&String::from_utf8_lossy(&block)) {
                events.push(event);
            }
        }
        events
    }
}

/// Where the first block ends (just past its blank line), if it has.
fn block_end(bytes: &[u8]) -> Option<usize> {
    bytes.iter().enumerate().find_map(|(i, byte)| {
        if *byte != b'\n' {
            return None;
        }
        match &bytes[i + 1..] {
            [b'\n', ..] => Some(i + 2),
            [b'\r', b'\n', ..] => Some(i + 3),
            _ => None,
        }
    })
}

/// One block's event: `None` for a comment or a block with no field.
fn parse_block(block: &str) -> Option<SseEvent> {
    let mut event = None;
    let mut id = String::new();
    let mut data: Option<String> = None;
    let mut any = false;
    for line in block.lines() {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        any = true;
        match field {
            "event" => event = Some(value.to_owned()),
            "id" => id = value.to_owned(),
            "data" => match &mut data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    any.then(|| SseEvent {
        event: event.unwrap_or_else(|| "message".to_owned()),
        id,
        data: data.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event: &str, id: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.to_owned(),
            id: id.to_owned(),
            data: data.to_owned(),
        }
    }

    #[test]
    fn whole_events_are_given_once_their_blank_line_arrives() {
        let mut reader = SseReader::default();
        assert_eq!(reader.push(b"event: answer\nid: 1\ndata: {\"a\":"), []);
        assert_eq!(
            reader.push(b"1}\n\nevent: closed\nid: closed\ndata: {}\n\n"),
            [
                event("answer", "1", "{\"a\":1}"),
                event("closed", "closed", "{}")
            ]
        );
        assert_eq!(reader.push(b""), []);
    }

    #[test]
    fn keep_alives_are_skipped_and_a_character_may_be_cut() {
        let mut reader = SseReader::default();
        assert_eq!(reader.push(b": keep-alive\n\n"), []);
        let text = "data: Zürich\n\n".as_bytes();
        let cut = text.iter().position(|b| *b > 0x7f).unwrap() + 1;
        assert_eq!(reader.push(&text[..cut]), []);
        assert_eq!(reader.push(&text[cut..]), [event("message", "", "Zürich")]);
    }

    #[test]
    fn data_lines_join_and_one_space_after_the_colon_is_dropped() {
        let mut reader = SseReader::default();
        assert_eq!(
            reader.push(b"data:a\ndata:  b\r\n\r\nid\n\n"),
            [event("message", "", "a\n b"), event("message", "", "")]
        );
    }
}
