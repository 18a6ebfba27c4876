//! `--plot DIR`: one SVG chart per workload, drawn with plotters' SVG backend. A throughput
//! workload gets two panels (throughput against threads, one line per implementation; the
//! fairness figure below it); a pool workload gets one (time against workers). Each chart
//! carries the date, machine and command of the run under it.

use crate::support::machine::{cpu_model, utc_now};
use crate::support::{harness::cpu_count, table::Figures};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use std::error::Error;
use std::path::Path;

/// One panel: a y axis and one line of values (by thread count) per implementation.
pub struct Panel {
    caption: &'static str,
    y_label: &'static str,
    /// `values[implementation][thread count]`.
    values: Vec<Vec<f64>>,
    /// The top of the y axis if fixed (else 10 % above the largest value).
    y_max: Option<f64>,
}

/// One chart: panels stacked over a shared x axis of thread counts.
pub struct Chart {
    /// File name without `.svg`.
    file: String,
    title: String,
    x_label: &'static str,
    threads: Vec<usize>,
    names: Vec<&'static str>,
    panels: Vec<Panel>,
}

impl Chart {
    /// Throughput and fairness of a throughput comparison.
    pub fn throughput(file: String, figures: Figures) -> Chart {
        let millions = figures
            .throughput
            .iter()
            .map(|line| line.iter().map(|ops| ops / 1e6).collect())
            .collect();
        Chart {
            file,
            title: figures.title,
            x_label: "threads",
            threads: figures.threads,
            names: figures.names,
            panels: vec![
                Panel { caption: "throughput", y_label: "M ops/s", values: millions, y_max: None },
                Panel {
                    caption: "fairness: per-thread ops, least served / best served (1 = equal shares)",
                    y_label: "min/max",
                    values: figures.fairness,
                    y_max: Some(1.05),
                },
            ],
        }
    }

    /// The times of a pool workload.
    pub fn pool(
        file: String,
        title: &str,
        threads: &[usize],
        names: Vec<&'static str>,
        ms: Vec<Vec<f64>>,
    ) -> Chart {
        Chart {
            file,
            title: format!("ThreadPool: {title}"),
            x_label: "workers",
            threads: threads.to_vec(),
            names,
            panels: vec![Panel {
                caption: "time (lower is better)",
                y_label: "ms",
                values: ms,
                y_max: None,
            }],
        }
    }
}

/// Writes `charts` into `dir` as `<file>.svg`; reports failures on stderr and goes on.
pub fn write_all(dir: &Path, primitive: &str, charts: &[Chart]) {
    if charts.is_empty() {
        eprintln!("note: `{primitive}` has no chart (its figures are a table)");
        return;
    }
    if let Err(error) = std::fs::create_dir_all(dir) {
        eprintln!("error: cannot create {}: {error}", dir.display());
        return;
    }
    let command: Vec<String> = std::env::args().skip(1).collect();
    let footer = format!(
        "{} | {} CPUs, {} | cargo run --release --example compare -- {}",
        utc_now(),
        cpu_count(),
        cpu_model(),
        command.join(" ")
    );
    for chart in charts {
        let path = dir.join(format!("{}.svg", chart.file));
        match draw(&path, chart, &footer) {
            Ok(()) => eprintln!("wrote {}", path.display()),
            Err(error) => eprintln!("error: cannot write {}: {error}", path.display()),
        }
    }
}

/// Line colours, ours first (and drawn thicker).
const COLOURS: [RGBColor; 5] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
];

const PANEL_HEIGHT: u32 = 340;

fn draw(path: &Path, chart: &Chart, footer: &str) -> Result<(), Box<dyn Error>> {
    let height = PANEL_HEIGHT * chart.panels.len() as u32 + 70;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (body, bottom) = root.split_vertically(height - 24);
    bottom.draw_text(
        footer,
        &("sans-serif", 12).into_font().color(&RGBColor(90, 90, 90)),
        (10, 4),
    )?;
    let body = body.titled(&chart.title, ("sans-serif", 18))?;
    for (panel, area) in chart.panels.iter().zip(body.split_evenly((chart.panels.len(), 1))) {
        draw_panel(&area, chart, panel)?;
    }
    root.present()?;
    Ok(())
}

fn draw_panel(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    chart: &Chart,
    panel: &Panel,
) -> Result<(), Box<dyn Error>> {
    let largest = panel.values.iter().flatten().copied().fold(0.0, f64::max);
    let y_max = panel.y_max.unwrap_or(if largest > 0.0 { largest * 1.1 } else { 1.0 });
    let mut plot = ChartBuilder::on(area)
        .caption(panel.caption, ("sans-serif", 14))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        // Integer ranges are inclusive in plotters: one segment per thread count.
        .build_cartesian_2d((0..chart.threads.len() - 1).into_segmented(), 0.0..y_max)?;
    let threads = &chart.threads;
    plot.configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_desc(chart.x_label)
        .y_desc(panel.y_label)
        .x_labels(threads.len() + 1)
        .x_label_formatter(&|value| match value {
            SegmentValue::CenterOf(index) => {
                threads.get(*index).map_or(String::new(), usize::to_string)
            }
            _ => String::new(),
        })
        .draw()?;
    for (index, (name, values)) in chart.names.iter().zip(&panel.values).enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let width = if index == 0 { 3 } else { 2 };
        let points: Vec<_> =
            values.iter().enumerate().map(|(x, &y)| (SegmentValue::CenterOf(x), y)).collect();
        plot.draw_series(LineSeries::new(points.clone(), colour.stroke_width(width)))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(width))
            });
        plot.draw_series(points.into_iter().map(|point| Circle::new(point, 3, colour.filled())))?;
    }
    plot.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
