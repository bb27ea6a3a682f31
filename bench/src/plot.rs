//! `report.svg`: intake latency (p50, p99) and throughput (offered,
//! accepted, shed) per second of the run.

use crate::{load::Second, report::Report};
use plotters::prelude::*;
use std::path::Path;

/// A value of a second of the run.
type Value = fn(&Second) -> f64;

/// Writes the report's charts to `path`.
pub fn write(report: &Report, path: &Path) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (960, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let (top, bottom) = root.split_vertically(320);
    let caption = format!("POST /rfqs latency from due, ms — {}", report.target);
    let latency: [(&str, RGBColor, Value); 2] =
        [("p50", BLUE, |s| s.p50_ms), ("p99", RED, |s| s.p99_ms)];
    chart(&top, &caption, &report.seconds, &latency)?;
    let throughput: [(&str, RGBColor, Value); 3] = [
        ("offered", BLACK, |s| s.offered as f64),
        ("accepted", GREEN, |s| s.accepted as f64),
        ("not accepted", RED, |s| s.shed as f64),
    ];
    chart(&bottom, "requests per second", &report.seconds, &throughput)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

/// One chart of `series` over the seconds of the run.
fn chart(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    seconds: &[Second],
    series: &[(&str, RGBColor, Value)],
) -> anyhow::Result<()> {
    let y_max = series
        .iter()
        .flat_map(|(_, _, value)| seconds.iter().map(value))
        .fold(1.0_f64, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0..seconds.len().max(1) as u64, 0.0..y_max * 1.1)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("second of the run")
        .draw()
        .map_err(plot_error)?;
    for (name, color, value) in series {
        let color = *color;
        chart
            .draw_series(LineSeries::new(
                seconds.iter().map(|s| (s.t, value(s))),
                color,
            ))
            .map_err(plot_error)?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

fn plot_error<E: std::fmt::Debug>(error: E) -> anyhow::Error {
    anyhow::anyhow!("drawing the report: {error:?}")
}
