//! Reading the driven pipeline's Prometheus metrics, and this process's
//! memory.

/// Sum of every series of `name` in a Prometheus text exposition.
pub fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// The `q` quantile of a Prometheus histogram over the interval between
/// two scrapes, as the upper bound of the bucket it falls in (series whose
/// labels contain `labels`, e.g. `op="apply"`); `None` without
/// observations.
pub fn quantile(before: &str, after: &str, name: &str, labels: &str, q: f64) -> Option<f64> {
    let buckets = |text: &str| -> Vec<(f64, f64)> {
        let prefix = format!("{name}_bucket{{");
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        for line in text
            .lines()
            .filter(|l| l.starts_with(&prefix) && l.contains(labels))
        {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Some(le) = series
                .split("le=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
            else {
                continue;
            };
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(f64::NAN)
            };
            let count: f64 = value.parse().unwrap_or(0.0);
            match buckets.iter_mut().find(|(b, _)| *b == bound) {
                Some((_, c)) => *c += count,
                None => buckets.push((bound, count)),
            }
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets
    };
    let (before, after) = (buckets(before), buckets(after));
    let delta: Vec<(f64, f64)> = after
        .iter()
        .map(|(bound, count)| {
            let old = before
                .iter()
                .find(|(b, _)| b == bound)
                .map_or(0.0, |(_, c)| *c);
            (*bound, count - old)
        })
        .collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    delta
        .iter()
        .find(|(_, cumulative)| *cumulative >= q * total)
        .map(|(bound, _)| *bound)
}

/// GET `{base}/metrics`; empty when it cannot be read (the figures that
/// need it are then left out, not guessed).
pub async fn metrics(client: &reqwest::Client, base: &str) -> String {
    let Ok(response) = client.get(format!("{base}/metrics")).send().await else {
        return String::new();
    };
    response.text().await.unwrap_or_default()
}

/// This process's resident set, bytes (Linux), if it can be read.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn series_of_a_name_are_summed() {
        let text = "# HELP x\nrfq_closed_total{reason=\"a\"} 3\nrfq_closed_total{reason=\"b\"} 4.5\nrfq_closed_total_other 9\n";
        assert_eq!(super::sum(text, "rfq_closed_total"), 7.5);
        assert_eq!(super::sum(text, "missing"), 0.0);
    }

    #[test]
    fn a_quantile_is_the_bound_of_its_bucket_over_the_interval() {
        let scrape = |fast: u32, slow: u32| {
            format!(
                "s_bucket{{op=\"apply\",le=\"0.001\"}} {fast}\ns_bucket{{op=\"apply\",le=\"0.01\"}} {}\ns_bucket{{op=\"apply\",le=\"+Inf\"}} {}\ns_bucket{{op=\"get\",le=\"0.001\"}} 5\n",
                fast + slow,
                fast + slow
            )
        };
        let (before, after) = (scrape(10, 0), scrape(108, 2));
        assert_eq!(
            super::quantile(&before, &after, "s", "op=\"apply\"", 0.5),
            Some(0.001)
        );
        assert_eq!(
            super::quantile(&before, &after, "s", "op=\"apply\"", 0.99),
            Some(0.01)
        );
        assert_eq!(
            super::quantile(&before, &before, "s", "op=\"apply\"", 0.99),
            None
        );
    }
}
