//! The bench example, run as a program: `--quick --json --only throughput` exits 0 and
//! prints JSON lines, one per message size with a numeric `ratio`. No speed assertions:
//! figures depend on the machine and its load.
#![cfg(feature = "secret-connection")]

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::watchdog;

fn bench_bin() -> PathBuf {
    support::example_bin("bench")
}

/// The raw text of `"key":value` in a flat JSON object line, if present.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let rest = &line[line.find(&pat)? + pat.len()..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(&rest[..end])
}

#[test]
fn quick_throughput_prints_json_lines_with_a_numeric_ratio() {
    let _w = watchdog("bench_smoke", Duration::from_secs(300));
    let out = Command::new(bench_bin())
        .args(["--quick", "--json", "--only", "throughput"])
        .output()
        .expect("run the bench");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench exited with {}:\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sizes = Vec::new();
    for line in text.lines() {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not a JSON object line: {line}"
        );
        let Some(ratio) = field(line, "ratio") else {
            continue;
        };
        let ratio: f64 = ratio
            .parse()
            .unwrap_or_else(|_| panic!("ratio is not a number in {line}"));
        assert!(ratio.is_finite() && ratio > 0.0, "{line}");
        assert_eq!(field(line, "bench"), Some("\"throughput\""), "{line}");
        assert_eq!(field(line, "threads"), Some("1"), "{line}");
        for k in ["mconn_mb_s", "raw_mb_s"] {
            let v: f64 = field(line, k)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{k} missing or not a number in {line}"));
            assert!(v > 0.0, "{line}");
        }
        sizes.push(field(line, "size").expect("size").to_string());
    }
    assert_eq!(
        sizes,
        ["100", "1024", "65536", "1048576"],
        "one ratio line per message size:\n{text}"
    );
}

#[test]
fn a_bad_flag_prints_usage_and_exits_two() {
    let err = support::assert_usage_error(&bench_bin(), &["--frobnicate"]);
    assert!(
        err.contains("usage:") && err.contains("--frobnicate"),
        "{err}"
    );
    support::assert_usage_error(&bench_bin(), &["--only", "nosuchbench"]);
}
