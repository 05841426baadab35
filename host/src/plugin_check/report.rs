//! What `plugins check` found: a list of findings (step, verdict, detail)
//! and measured facts, printed for a person or as JSON for CI.

use serde::Serialize;

/// One finding's verdict. `Fail` makes the check exit non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
    /// Not run because an earlier step failed or does not apply.
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Short step name: `component`, `imports`, `describe`, `contract: 401`…
    pub step: String,
    pub verdict: Verdict,
    pub detail: String,
}

/// Figures measured on the way, for the author.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facts {
    pub file_bytes: u64,
    pub wit_version: Option<String>,
    /// Compiling the component (0 when the compile cache had it).
    pub compile_ms: Option<f64>,
    pub describe_ms: Option<f64>,
    /// Median wall time of the contract's calls (instantiate + run + return).
    pub call_ms: Option<f64>,
    /// Linear memory and tables one instance held after a failed submit,
    /// MiB (what `memory_mib` must at least allow).
    pub memory_mib: Option<f64>,
    pub provider_id: Option<String>,
    pub models: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub file: String,
    pub facts: Facts,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn add(&mut self, step: impl Into<String>, verdict: Verdict, detail: impl Into<String>) {
        self.findings.push(Finding { step: step.into(), verdict, detail: detail.into() });
    }

    pub fn failures(&self) -> usize {
        self.findings.iter().filter(|f| f.verdict == Verdict::Fail).count()
    }

    fn count(&self, verdict: Verdict) -> usize {
        self.findings.iter().filter(|f| f.verdict == verdict).count()
    }

    /// The report as a person reads it: one line per finding, then totals.
    pub fn text(&self) -> String {
        let mut out = format!("easel plugins check {}\n", self.file);
        let width = self.findings.iter().map(|f| f.step.len()).max().unwrap_or(0);
        for f in &self.findings {
            let mark = match f.verdict {
                Verdict::Pass => "ok  ",
                Verdict::Warn => "warn",
                Verdict::Fail => "FAIL",
                Verdict::Skip => "skip",
            };
            // A failure is printed whole: its last lines say how to fix it.
            let detail =
                if f.verdict == Verdict::Fail { f.detail.clone() } else { shorten(&f.detail, MAX_DETAIL_CHARS) };
            let mut lines = detail.lines();
            out.push_str(&format!("  {mark}  {:width$}  {}\n", f.step, lines.next().unwrap_or("")));
            for line in lines {
                out.push_str(&format!("        {:width$}  {line}\n", ""));
            }
        }
        let f = &self.facts;
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} ms"));
        out.push_str(&format!(
            "  size {:.1} MiB · WIT {} · compile {} · describe {} · median call {} · instance memory {}\n",
            f.file_bytes as f64 / (1 << 20) as f64,
            f.wit_version.as_deref().unwrap_or("-"),
            f.compile_ms.map_or("-".to_string(), |v| if v == 0.0 {
                "cached".into()
            } else {
                format!("{:.1} s", v / 1e3)
            }),
            ms(f.describe_ms),
            ms(f.call_ms),
            f.memory_mib.map_or("-".to_string(), |m| format!("{m:.1} MiB")),
        ));
        out.push_str(&format!(
            "{} ok, {} failed, {} warnings, {} skipped\n",
            self.count(Verdict::Pass),
            self.count(Verdict::Fail),
            self.count(Verdict::Warn),
            self.count(Verdict::Skip)
        ));
        out
    }
}

/// Longest detail a text report prints (JSON has it whole).
const MAX_DETAIL_CHARS: usize = 400;

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
