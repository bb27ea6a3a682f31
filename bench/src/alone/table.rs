//! The aggregator-alone report: a terminal table and `aggregator.json`.

use super::Alone;
use std::path::Path;

impl Alone {
    /// Writes `aggregator.json` to `dir` and prints the table.
    pub fn publish(&self, dir: &Path) -> anyhow::Result<()> {
        let json = crate::write_json(dir, "aggregator.json", self)?;
        println!("{}", self.table());
        println!("report: {}", json.display());
        Ok(())
    }

    /// The figures as a terminal table.
    pub fn table(&self) -> String {
        // Small shares with a decimal: 0.2 % is not 0 %.
        let percent = |share: Option<f64>| match share.map(|s| s * 100.0) {
            Some(p) if p < 10.0 => format!("{p:.1} %"),
            Some(p) => format!("{p:.0} %"),
            None => "?".to_owned(),
        };
        let rate = |r: Option<f64>| r.map_or("?".to_owned(), |r| format!("{r:.0}"));
        let mut rows: Vec<(String, String)> = vec![
            (
                "target".into(),
                format!("the aggregator alone: {}, {}", self.broker, self.store),
            ),
            ("machine".into(), crate::report::machine()),
        ];
        if let Some(b) = &self.limits {
            rows.push((
                "broker: raw produce / consume".into(),
                format!(
                    "{:.0} / {:.0} records/s ({} × {} B)",
                    b.produce_per_second, b.consume_per_second, b.records, b.record_bytes
                ),
            ));
        }
        rows.push((
            "written".into(),
            format!(
                "{} RFQs ({} closing at their deadline), {} records (RFQs and answers) at {:.0}/s",
                self.rfqs, self.deadline_rfqs, self.records, self.written_per_second
            ),
        ));
        rows.push((
            "raw consume of that topic".into(),
            format!(
                "{:.0} records/s (a plain consumer)",
                self.raw_consume_per_second
            ),
        ));
        rows.push((
            "aggregator, from its start".into(),
            match self.seconds {
                Some(seconds) => format!(
                    "{} records/s, {} RFQs/s ({:.1} s) = {} of the raw consume, {} of the broker's consume limit",
                    rate(self.records_per_second),
                    rate(self.rfqs_per_second),
                    seconds,
                    percent(self.share_of_raw_consume),
                    percent(self.share_of_broker_consume),
                ),
                None => format!("NOT every RFQ closed: {} left open", self.open_left),
            },
        ));
        rows.push((
            "  from its first close".into(),
            format!(
                "{} records/s = {} of the raw consume (first close after {})",
                rate(self.steady_records_per_second),
                percent(self.steady_share_of_raw_consume),
                self.first_close_seconds
                    .map_or("?".to_owned(), |s| format!("{s:.1} s")),
            ),
        ));
        let count = |n: Option<u64>| n.map_or("?".to_owned(), |n| n.to_string());
        rows.push((
            "  it wrote besides".into(),
            format!(
                "{} deadline markers, {} change notices (the events topic)",
                count(self.markers),
                count(self.notices)
            ),
        ));
        rows.push((
            "  recovery read at start".into(),
            format!(
                "{} open RFQs read back from the store in {:.2} s (timed beforehand)",
                self.rfqs, self.recovery_read_seconds
            ),
        ));
        rows.extend(self.check.rows());
        crate::report::align(&rows)
    }
}
