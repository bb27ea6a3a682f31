use super::*;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap()
}

fn report(partition: i32, instance: &str, lag_ms: u64, when: i64) -> Progress {
    Progress {
        partition,
        instance: instance.to_owned(),
        lag_records: lag_ms / 10,
        lag_ms,
        open_past_deadline: 0,
        at: at(when),
    }
}

#[test]
fn reports_round_trip_and_bad_records_are_named() {
    let sent = report(3, "rfq-aggregator-1a2b", 1500, 0);
    let key = sent.key();
    assert_eq!(key, "3/rfq-aggregator-1a2b");
    let back = Progress::parse(Some(key.as_bytes()), Some(&sent.value())).unwrap();
    assert_eq!(back, Some(sent.clone()));
    assert_eq!(Progress::parse(Some(key.as_bytes()), None).unwrap(), None);
    for (key, value, wanted) in [
        (None, Some(sent.value()), "no key"),
        (
            Some(&b"4/rfq-aggregator-1a2b"[..]),
            Some(sent.value()),
            "is not the value's",
        ),
        (Some(key.as_bytes()), Some(b"{}".to_vec()), "value"),
        (
            Some(key.as_bytes()),
            Some(b"{\"at\":1,\"x\":2}".to_vec()),
            "value",
        ),
    ] {
        let error = Progress::parse(key, value.as_deref()).unwrap_err();
        assert!(error.contains(wanted), "{error}");
    }
}

#[test]
fn a_report_is_taken_at_its_word_then_aged() {
    let report = report(0, "a", 300, 0);
    assert_eq!(report.aged(at(0)), Duration::milliseconds(300));
    assert_eq!(report.aged(at(2000)), Duration::milliseconds(300));
    // Silent past FRESH_FOR: no progress since.
    assert_eq!(report.aged(at(7000)), Duration::milliseconds(5300));
}

#[test]
fn the_freshest_instance_speaks_for_its_partition() {
    let mut lags = Lags::default();
    assert_eq!(lags.estimate(0, at(0)), None, "nobody reported");
    lags.take("0/a", Some(report(0, "a", 0, 0)));
    lags.take("0/b", Some(report(0, "b", 30_000, 0)));
    lags.take("1/b", Some(report(1, "b", 30_000, 0)));
    assert_eq!(lags.estimate(0, at(1000)), Some(Duration::zero()));
    assert_eq!(lags.estimate(1, at(1000)), Some(Duration::seconds(30)));
    // `a` stops reporting: `b` catches up and speaks.
    lags.take("0/b", Some(report(0, "b", 100, 10_000)));
    assert_eq!(
        lags.estimate(0, at(10_000)),
        Some(Duration::milliseconds(100))
    );
    // `b` leaves cleanly: `a`'s last word, aged, is all there is.
    lags.take("0/b", None);
    assert_eq!(lags.estimate(0, at(10_000)), Some(Duration::seconds(8)));
    lags.take("0/a", None);
    assert_eq!(lags.estimate(0, at(10_000)), None);
    // A crashed instance's last word is forgotten once another reports
    // long after it.
    lags.take("1/c", Some(report(1, "c", 0, 700_000)));
    assert_eq!(lags.estimate(1, at(700_000)), Some(Duration::zero()));
    lags.take("1/c", Some(report(1, "c", 0, 800_000)));
    assert_eq!(lags.reports[&1].len(), 1);
}
