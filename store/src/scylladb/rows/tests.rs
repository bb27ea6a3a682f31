use super::*;
use chrono::Duration as Span;

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
    let (
        id,
        partition,
        topic,
        customer,
        region,
        flat,
        flon,
        tlat,
        tlon,
        created,
        deadline,
        addressed,
        completion,
    ) = values;
    RfqRow {
        id,
        partition: Some(partition),
        return_topic: Some(topic),
        customer: Some(customer),
        region: Some(region),
        from_lat: Some(flat),
        from_lon: Some(flon),
        to_lat: Some(tlat),
        to_lon: Some(tlon),
        created_at: Some(created),
        deadline: Some(deadline),
        // ScyllaDB stores an empty list as null.
        addressed: (!addressed.is_empty()).then_some(addressed),
        completion: Some(completion),
        closed_at: None,
        close_reason: None,
    }
}

#[test]
fn an_rfq_maps_to_a_row_and_back() {
    for providers in [&["a", "b"][..], &[]] {
        let r = rfq(providers);
        let (back, status) = row_of(rfq_values(&r)).into_domain().unwrap().unwrap();
        assert_eq!(back, r);
        assert_eq!(status, RfqStatus::Open);
    }
    let r = rfq(&["a"]);
    let mut row = row_of(rfq_values(&r));
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
    let mut row = row_of(rfq_values(&r));
    row.closed_at = Some(CqlTimestamp(0));
    row.close_reason = Some("boredom".into());
    assert!(matches!(row.into_domain(), Err(StoreError::Corrupt(m)) if m.contains("boredom")));

    let mut row = row_of(rfq_values(&r));
    row.region = None;
    assert!(matches!(row.into_domain(), Err(StoreError::Corrupt(m)) if m.contains("region")));

    let mut row = row_of(rfq_values(&r));
    row.completion = Some("first-n:zero".into());
    assert!(row.into_domain().is_err());

    // Only close cells: not an RFQ (yet), not an error.
    let mut row = row_of(rfq_values(&r));
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
    for (answer, late) in [(quote.clone(), false), (decline, true)] {
        let kept = match late {
            true => JudgedAnswer::late(answer.clone(), received),
            false => JudgedAnswer::in_time(answer.clone(), received),
        };
        let back = ResponseRow::new(&kept).into_domain().unwrap();
        assert_eq!(back.answer, answer);
        assert_eq!(back.received_at, received);
        assert_eq!(back.is_late(), late);
    }
    let quote = JudgedAnswer::in_time(quote, received);
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
