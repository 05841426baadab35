//! The figures: each printed as `name: value  (how it was measured)` the
//! moment it is known, kept for the table at the end, and the statistics
//! and units they are written in (median, percentiles, ms, MiB).

use std::time::Duration;

/// One printed figure.
struct Figure {
    name: String,
    value: String,
}

/// Every figure printed so far, in order.
#[derive(Default)]
pub struct Report {
    figures: Vec<Figure>,
}

impl Report {
    /// Print `name: value  (note)` and keep it for the table.
    pub fn figure(&mut self, name: &str, value: impl Into<String>, note: &str) {
        let value = value.into();
        if note.is_empty() {
            println!("{name}: {value}");
        } else {
            println!("{name}: {value}  ({note})");
        }
        self.figures.push(Figure { name: name.to_string(), value });
    }

    /// A line that is not a figure (context for the ones around it).
    pub fn note(&self, text: &str) {
        println!("  # {text}");
    }

    /// The figures again as a two-column table.
    pub fn print_table(&self) {
        let width = self.figures.iter().map(|f| f.name.chars().count()).max().unwrap_or(0);
        println!();
        println!("{:<width$}  value", "figure");
        println!("{:-<width$}  {:-<24}", "", "");
        for f in &self.figures {
            println!("{:<width$}  {}", f.name, f.value);
        }
    }
}

/// The middle sample (the upper one of an even count).
pub fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 0.5)
}

/// Nearest-rank percentile `p` (0.0 ..= 1.0) of `samples`; zero when empty.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The largest sample; zero when empty.
pub fn max(samples: &[Duration]) -> Duration {
    samples.iter().max().copied().unwrap_or_default()
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
