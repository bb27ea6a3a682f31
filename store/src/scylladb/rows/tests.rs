use super::*;
use chrono::Duration as Span;
use scylla::frame::response::result::{
    CollectionType, ColumnSpec, ColumnType, NativeType, TableSpec,
};
use scylla::serialize::{
    SerializationError,
    row::{RowSerializationContext, SerializeRow},
    writers::RowWriter,
};

fn rfq(providers: &[&str]) -> Rfq {
    let created_at = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
    Rfq {
        created_at,
        deadline: created_at + Span::seconds(90),
        return_address: ReturnAddress {
            topic: "rfq.quotes".into(),
            partition: 5,
        },
        completion: Completion::FirstN(2),
        ..Rfq::sample(providers)
    }
}

/// The row ScyllaDB would return for `values` (what `SELECT RFQ_COLUMNS` reads).
fn row_of(values: RfqValues) -> RfqRow {
    RfqRow {
        id: values.id,
        partition: Some(values.partition),
        return_topic: Some(values.return_topic),
        customer: Some(values.customer),
        region: Some(values.region),
        from_lat: Some(values.from_lat),
        from_lon: Some(values.from_lon),
        to_lat: Some(values.to_lat),
        to_lon: Some(values.to_lon),
        created_at: Some(values.created_at),
        deadline: Some(values.deadline),
        // ScyllaDB stores an empty list as null.
        addressed: (!values.addressed.is_empty()).then_some(values.addressed),
        completion: Some(values.completion),
        radius_m: values.radius_m,
        closed_at: None,
        close_reason: None,
    }
}

#[test]
fn an_rfq_maps_to_a_row_and_back() {
    for providers in [&["a", "b"][..], &[]] {
        let r = rfq(providers);
        let (back, status) = row_of(RfqValues::new(&r)).into_domain().unwrap().unwrap();
        assert_eq!(back, r);
        assert_eq!(status, RfqStatus::Open);
    }
    // A row from before vicinity has no radius.
    let before = Rfq {
        radius: None,
        ..rfq(&["a"])
    };
    let (back, _) = row_of(RfqValues::new(&before))
        .into_domain()
        .unwrap()
        .unwrap();
    assert_eq!(back.radius, None);
    let r = rfq(&["a"]);
    let mut row = row_of(RfqValues::new(&r));
    row.closed_at = Some(cql_time(&r.deadline));
    row.close_reason = Some("quorum".into());
    let (_, status) = row.into_domain().unwrap().unwrap();
    assert_eq!(
        status,
        RfqStatus::Closed {
            reason: CloseReason::Quorum,
            closed_at: r.deadline
        }
    );
}

#[test]
fn bad_rows_are_corrupt_not_panics() {
    let r = rfq(&["a"]);
    let mut row = row_of(RfqValues::new(&r));
    row.closed_at = Some(CqlTimestamp(0));
    row.close_reason = Some("boredom".into());
    assert!(matches!(row.into_domain(), Err(StoreError::Corrupt(m)) if m.contains("boredom")));

    let mut row = row_of(RfqValues::new(&r));
    row.region = None;
    assert!(matches!(row.into_domain(), Err(StoreError::Corrupt(m)) if m.contains("region")));

    let mut row = row_of(RfqValues::new(&r));
    row.completion = Some("first-n:zero".into());
    assert!(row.into_domain().is_err());

    for metres in [0, -1] {
        let mut row = row_of(RfqValues::new(&r));
        row.radius_m = Some(metres);
        assert!(matches!(row.into_domain(), Err(StoreError::Corrupt(_))));
    }

    // Only close cells: not an RFQ (yet), not an error.
    let mut row = row_of(RfqValues::new(&r));
    row.created_at = None;
    assert_eq!(row.into_domain().unwrap(), None);
}

#[test]
fn answers_map_to_rows_and_back() {
    let r = rfq(&["a", "b"]);
    let received = r.created_at + Span::milliseconds(2_500);
    let quote = Answer {
        rfq: r.id,
        provider: ProviderId::parse("a").unwrap(),
        responded_at: r.created_at + Span::seconds(2),
        reply: Reply::Quoted {
            price: Price::new(1_234, Currency::parse("EUR").unwrap()).unwrap(),
            pickup_eta_seconds: 240,
        },
    };
    let decline = Answer {
        provider: ProviderId::parse("b").unwrap(),
        reply: Reply::Declined {
            reason: "no cars".into(),
        },
        ..quote.clone()
    };
    for (answer, late, seq) in [(quote.clone(), false, 1), (decline, true, 2)] {
        let kept = match late {
            true => JudgedAnswer::late(answer.clone(), received, seq),
            false => JudgedAnswer::in_time(answer.clone(), received, seq),
        };
        let back = ResponseRow::new(&kept).into_domain().unwrap();
        assert_eq!(back.answer, answer);
        assert_eq!(back.received_at, received);
        assert_eq!(back.is_late(), late);
        assert_eq!(back.seq, seq);
    }
    let quote = JudgedAnswer::in_time(quote, received, 1);
    let mut legacy = ResponseRow::new(&quote);
    legacy.seq = None;
    assert_eq!(legacy.into_domain().unwrap().seq, 0, "unnumbered");
    let mut row = ResponseRow::new(&quote);
    row.currency = None;
    assert!(matches!(row.into_domain(), Err(StoreError::Corrupt(m)) if m.contains("currency")));
    let mut row = ResponseRow::new(&quote);
    row.kind = "maybe".into();
    assert!(row.into_domain().is_err());
    let mut row = ResponseRow::new(&quote);
    row.pickup_eta_seconds = Some(-1);
    assert!(row.into_domain().is_err());
}

#[test]
fn the_earliest_value_gets_the_highest_write_stamp() {
    let r = rfq(&["a"]);
    let early = first_wins_stamp(&r.deadline);
    let later = first_wins_stamp(&(r.deadline + Span::milliseconds(1)));
    assert!(early > later, "earlier must win");
    // Never in the future (ScyllaDB refuses stamps over 3 days ahead) ...
    let now = Utc::now();
    assert!(first_wins_stamp(&now) <= now.timestamp_micros());
    let base = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    assert!(first_wins_stamp(&base) <= base.timestamp_micros());
    // ... and above the opening writes for decades: a close (which deletes
    // the open-index entry) shadows a replayed open.
    let far = Utc.with_ymd_and_hms(2078, 12, 31, 0, 0, 0).unwrap();
    assert!(first_wins_stamp(&far) > OPENING_STAMP);
}

#[test]
fn ttls_count_from_the_deadline_and_stay_in_range() {
    let r = rfq(&["a"]);
    let day = std::time::Duration::from_secs(86_400);
    assert_eq!(ttl(&r.deadline, &r.created_at, day), 86_400 + 90);
    assert_eq!(ttl(&r.created_at, &r.deadline, day), 86_400);
    assert_eq!(
        ttl(
            &r.deadline,
            &r.created_at,
            std::time::Duration::from_secs(u64::MAX)
        ),
        630_720_000
    );
}

#[test]
fn buckets_spread_ids_evenly() {
    let mut counts = [0u32; OPEN_BUCKETS as usize];
    for _ in 0..64_000 {
        let b = bucket(&CorrelationId::new_random());
        assert!((0..OPEN_BUCKETS).contains(&b));
        counts[usize::try_from(b).unwrap()] += 1;
    }
    // 1,000 expected per bucket; a uniform spread stays well within ±25 %.
    assert!(counts.iter().all(|c| (750..1250).contains(c)), "{counts:?}");
}

/// The CQL type of a bind marker of the inserts (`store/cql/*.cql`).
fn cql_type(marker: &str) -> ColumnType<'static> {
    let native = match marker {
        "id" | "rfq_id" => NativeType::Uuid,
        "partition" | "pickup_eta_seconds" | "seq" | "radius_m" | "[ttl]" => NativeType::Int,
        "price_minor" | "[timestamp]" => NativeType::BigInt,
        "from_lat" | "from_lon" | "to_lat" | "to_lon" => NativeType::Double,
        "created_at" | "deadline" | "responded_at" | "received_at" => NativeType::Timestamp,
        "late" => NativeType::Boolean,
        "addressed" => {
            return ColumnType::Collection {
                frozen: false,
                typ: CollectionType::List(Box::new(ColumnType::Native(NativeType::Text))),
            };
        }
        _ => NativeType::Text,
    };
    ColumnType::Native(native)
}

/// `row` with the write timestamp 7 and the TTL 9.
fn stamped<R>(row: R) -> Stamped<R> {
    Stamped {
        row,
        stamp: 7,
        ttl: 9,
    }
}

/// `values` bound as the driver binds them to a statement whose bind
/// markers are `markers`.
fn bind(values: &impl SerializeRow, markers: &[&str]) -> Result<Vec<u8>, SerializationError> {
    let specs: Vec<ColumnSpec<'_>> = markers
        .iter()
        .map(|m| ColumnSpec::borrowed(m, cql_type(m), TableSpec::borrowed("rfq", "t")))
        .collect();
    let mut bytes = Vec::new();
    values.serialize(
        &RowSerializationContext::from_specs(&specs),
        &mut RowWriter::new(&mut bytes),
    )?;
    Ok(bytes)
}

#[test]
fn stamped_rows_bind_their_columns_by_name_then_stamp_and_ttl() {
    let markers = |columns: &'static str| -> Vec<&'static str> {
        columns
            .split(',')
            .map(str::trim)
            .chain(["[timestamp]", "[ttl]"])
            .collect()
    };
    // The insert statements name exactly the fields of their values.
    let r = rfq(&["a", "b"]);
    bind(&stamped(RfqValues::new(&r)), &markers(RFQ_VALUES_COLUMNS)).unwrap();
    let decline = JudgedAnswer::in_time(
        Answer {
            rfq: r.id,
            provider: ProviderId::parse("a").unwrap(),
            responded_at: r.created_at,
            reply: Reply::Declined { reason: "".into() },
        },
        r.deadline,
        1,
    );
    bind(
        &stamped(ResponseRow::new(&decline)),
        &markers(RESPONSE_COLUMNS),
    )
    .unwrap();
    // A column the values do not have is refused.
    let mut extra = markers(RFQ_VALUES_COLUMNS);
    extra.insert(0, "closed_at");
    assert!(bind(&stamped(RfqValues::new(&r)), &extra).is_err());
    // Columns in any order; the stamp and the TTL end the statement.
    #[derive(SerializeRow)]
    struct Two {
        partition: i32,
        region: String,
    }
    let two = || Two {
        partition: 5,
        region: "u0".into(),
    };
    let order = ["region", "partition", "[timestamp]", "[ttl]"];
    assert_eq!(
        bind(&stamped(two()), &order).unwrap(),
        bind(&("u0", 5, 7_i64, 9), &order).unwrap()
    );
    assert!(
        bind(
            &stamped(two()),
            &["[timestamp]", "[ttl]", "region", "partition"]
        )
        .is_err()
    );
}
