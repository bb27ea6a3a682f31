//! `report.svg`: intake latency (p50, p99) and throughput (offered,
//! accepted, shed) per second of the run.

use crate::report::Report;
use plotters::prelude::*;
use std::path::Path;

/// Writes the report's charts to `path`.
pub fn write(report: &Report, path: &Path) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (960, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let (top, bottom) = root.split_vertically(320);
    let seconds = report.seconds.len().max(1) as u64;
    let p99_max = report
        .seconds
        .iter()
        .map(|s| s.p99_ms)
        .fold(1.0_f64, f64::max);
    let mut latency = ChartBuilder::on(&top)
        .caption(
            format!("POST /rfqs latency from due, ms — {}", report.target),
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0..seconds, 0.0..p99_max * 1.1)
        .map_err(plot_error)?;
    latency
        .configure_mesh()
        .x_desc("second of the run")
        .draw()
        .map_err(plot_error)?;
    for (name, color, value) in [
        (
            "p50",
            BLUE,
            (|s: &crate::load::Second| s.p50_ms) as fn(&_) -> f64,
        ),
        ("p99", RED, |s| s.p99_ms),
    ] {
        latency
            .draw_series(LineSeries::new(
                report.seconds.iter().map(|s| (s.t, value(s))),
                color,
            ))
            .map_err(plot_error)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
    }
    latency
        .configure_series_labels()
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;

    let rate_max = report
        .seconds
        .iter()
        .map(|s| s.offered.max(s.accepted) as f64)
        .fold(1.0_f64, f64::max);
    let mut throughput = ChartBuilder::on(&bottom)
        .caption("requests per second", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0..seconds, 0.0..rate_max * 1.1)
        .map_err(plot_error)?;
    throughput
        .configure_mesh()
        .x_desc("second of the run")
        .draw()
        .map_err(plot_error)?;
    for (name, color, value) in [
        (
            "offered",
            BLACK,
            (|s: &crate::load::Second| s.offered as f64) as fn(&_) -> f64,
        ),
        ("accepted", GREEN, |s| s.accepted as f64),
        ("not accepted", RED, |s| s.shed as f64),
    ] {
        throughput
            .draw_series(LineSeries::new(
                report.seconds.iter().map(|s| (s.t, value(s))),
                color,
            ))
            .map_err(plot_error)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
    }
    throughput
        .configure_series_labels()
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

fn plot_error<E: std::fmt::Debug>(error: E) -> anyhow::Error {
    anyhow::anyhow!("drawing the report: {error:?}")
}
