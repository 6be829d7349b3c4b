//! Statistics over repetitions, and the two output forms: an aligned table for people
//! and one JSON object per line for programs (written by hand: no serde here).

use std::fmt::Write as _;

/// Median, min and max of one figure over the repetitions.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    /// The statistics of `xs` (NaN everywhere for an empty slice).
    pub fn of(xs: &[f64]) -> Stats {
        if xs.is_empty() {
            return Stats {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        Stats {
            median: percentile(&v, 50.0),
            min: v[0],
            max: v[v.len() - 1],
        }
    }
}

/// The `p`-th percentile of an ascending slice (nearest rank, interpolated between the
/// two middle values for the median of an even count).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let n = sorted.len();
    if p == 50.0 && n % 2 == 0 {
        return (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    }
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// Per-repetition ratios `a[i] / b[i]` (the repetitions of the two sides are interleaved,
/// so each pair saw the same background load).
pub fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}

/// One value of a result line.
#[derive(Clone, Debug)]
pub enum Cell {
    Int(u64),
    /// A number with this many decimals in the table.
    Num(f64, usize),
    /// Median, min and max: one table cell, three JSON keys (`k`, `k_min`, `k_max`).
    Stat(Stats, usize),
    Text(String),
    Bool(bool),
}

/// One result line: ordered (key, value) pairs.
#[derive(Clone, Debug, Default)]
pub struct Row {
    fields: Vec<(&'static str, Cell)>,
}

impl Row {
    pub fn new(bench: &str) -> Row {
        Row::default().text("bench", bench)
    }
    pub fn int(mut self, k: &'static str, v: u64) -> Row {
        self.fields.push((k, Cell::Int(v)));
        self
    }
    pub fn num(mut self, k: &'static str, v: f64, decimals: usize) -> Row {
        self.fields.push((k, Cell::Num(v, decimals)));
        self
    }
    pub fn stat(mut self, k: &'static str, v: Stats, decimals: usize) -> Row {
        self.fields.push((k, Cell::Stat(v, decimals)));
        self
    }
    pub fn text(mut self, k: &'static str, v: &str) -> Row {
        self.fields.push((k, Cell::Text(v.to_string())));
        self
    }
    pub fn bool(mut self, k: &'static str, v: bool) -> Row {
        self.fields.push((k, Cell::Bool(v)));
        self
    }

    fn json(&self) -> String {
        let mut s = String::from("{");
        let mut first = true;
        let mut put = |s: &mut String, k: &str, v: String| {
            if !first {
                s.push(',');
            }
            first = false;
            let _ = write!(s, "{}:{}", json_str(k), v);
        };
        for (k, v) in &self.fields {
            match v {
                Cell::Int(n) => put(&mut s, k, n.to_string()),
                Cell::Num(x, _) => put(&mut s, k, json_num(*x)),
                Cell::Stat(st, _) => {
                    put(&mut s, k, json_num(st.median));
                    put(&mut s, &format!("{k}_min"), json_num(st.min));
                    put(&mut s, &format!("{k}_max"), json_num(st.max));
                }
                Cell::Text(t) => put(&mut s, k, json_str(t)),
                Cell::Bool(b) => put(&mut s, k, b.to_string()),
            }
        }
        s.push('}');
        s
    }
}

fn json_num(x: f64) -> String {
    if !x.is_finite() {
        return "null".into();
    }
    // Enough significant digits for any figure here, without float noise.
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn table_cell(c: &Cell) -> String {
    match c {
        Cell::Int(n) => n.to_string(),
        Cell::Num(x, d) => fmt_num(*x, *d),
        Cell::Stat(st, d) => format!(
            "{} [{}–{}]",
            fmt_num(st.median, *d),
            fmt_num(st.min, *d),
            fmt_num(st.max, *d)
        ),
        Cell::Text(t) => t.clone(),
        Cell::Bool(b) => if *b { "yes" } else { "NO" }.into(),
    }
}

fn fmt_num(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "-".into()
    }
}

/// Where results go: a table on stdout, or JSON lines on stdout. Progress goes to stderr.
pub struct Out {
    pub json: bool,
}

impl Out {
    /// A free-form line: plain in the table, `{"info": ...}` in JSON.
    pub fn info(&self, key: &str, text: &str) {
        if self.json {
            println!("{{\"info\":{},\"text\":{}}}", json_str(key), json_str(text));
        } else {
            println!("{key}: {text}");
        }
    }

    /// A bench's title and how its figures are measured.
    pub fn header(&self, bench: &str, how: &[String]) {
        if self.json {
            let lines: Vec<String> = how.iter().map(|l| json_str(l)).collect();
            println!(
                "{{\"bench\":{},\"method\":[{}]}}",
                json_str(bench),
                lines.join(",")
            );
        } else {
            println!("\n== {bench}");
            for l in how {
                println!("   {l}");
            }
        }
    }

    /// The bench's result lines: aligned columns (median [min–max]), or JSON objects.
    pub fn rows(&self, rows: &[Row]) {
        if self.json {
            for r in rows {
                println!("{}", r.json());
            }
            return;
        }
        if rows.is_empty() {
            return;
        }
        // Columns: every key in order of first appearance; "bench" is in the title.
        let mut keys: Vec<&str> = Vec::new();
        for r in rows {
            for (k, _) in &r.fields {
                if *k != "bench" && !keys.contains(k) {
                    keys.push(k);
                }
            }
        }
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                keys.iter()
                    .map(|k| {
                        r.fields
                            .iter()
                            .find(|(kk, _)| kk == k)
                            .map(|(_, c)| table_cell(c))
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                cells
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([k.len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |vals: Vec<String>| {
            let parts: Vec<String> = vals
                .iter()
                .zip(&widths)
                .map(|(v, w)| format!("{v:>w$}"))
                .collect();
            println!("   {}", parts.join("  "));
        };
        line(keys.iter().map(|k| k.to_string()).collect());
        for r in cells {
            line(r);
        }
    }
}
