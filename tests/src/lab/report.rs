//! What a lab run prints: a line per iteration and, at the end, the table of faults by kind
//! with recovery and outage figures (median, p90, p95, max: nearest rank), and the violations.

use std::collections::BTreeMap;
use std::time::Duration;

/// One iteration's record.
#[derive(Clone, Debug)]
pub struct Record {
    pub step: u64,
    pub kind: &'static str,
    /// The fault as applied, with its resolved targets (`crash-bmc node1`).
    pub what: String,
    /// From the fault to every wanted service up again, when something went down.
    pub recovery: Option<Duration>,
    /// Time the client got no answer from the address, from the fault to the settled cluster.
    pub outage: Duration,
    /// The longest single stretch of it.
    pub longest: Duration,
    /// From the undo to the settled cluster.
    pub settle: Duration,
    /// Broken promises: (rule, text).
    pub violations: Vec<(String, String)>,
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

impl Record {
    pub fn line(&self) -> String {
        format!(
            "step {:>4}  {:<15} {:<44} recovery {:>7}  outage {:>7} (longest {:>7})  settle {:>7}  {}",
            self.step,
            self.kind,
            self.what,
            self.recovery.map_or("-".to_string(), secs),
            secs(self.outage),
            secs(self.longest),
            secs(self.settle),
            if self.violations.is_empty() {
                "ok".to_string()
            } else {
                format!("{} VIOLATION(S)", self.violations.len())
            }
        )
    }
}

/// The `p` quantile by nearest rank of sorted values.
pub fn quantile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn stats(mut v: Vec<Duration>) -> [String; 4] {
    v.sort();
    let f = |p: f64| quantile(&v, p).map_or("-".to_string(), |d| format!("{:.2}", d.as_secs_f64()));
    [f(0.5), f(0.9), f(0.95), f(1.0)]
}

/// The final table (Markdown).
pub fn summary(records: &[Record]) -> String {
    let mut by: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for r in records {
        by.entry(r.kind).or_default().push(r);
    }
    let mut out = String::from(
        "| fault | runs | went down | recovery median (s) | p90 | p95 | max | client outage median (s) | p90 | max | violations |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut row = |name: &str, rs: &[&Record]| {
        let rec: Vec<Duration> = rs.iter().filter_map(|r| r.recovery).collect();
        let down = rec.len();
        let [rm, r90, r95, rmax] = stats(rec);
        let [om, o90, _, omax] = stats(rs.iter().map(|r| r.outage).collect());
        let v: usize = rs.iter().map(|r| r.violations.len()).sum();
        out += &format!(
            "| {name} | {} | {down} | {rm} | {r90} | {r95} | {rmax} | {om} | {o90} | {omax} | {v} |\n",
            rs.len()
        );
    };
    for (k, rs) in &by {
        row(k, rs);
    }
    let all: Vec<&Record> = records.iter().collect();
    row("all", &all);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn nearest_rank() {
        let v: Vec<Duration> = (1..=20).map(|i| ms(i * 100)).collect();
        assert_eq!(quantile(&v, 0.5), Some(ms(1000)));
        assert_eq!(quantile(&v, 0.9), Some(ms(1800)));
        assert_eq!(quantile(&v, 0.95), Some(ms(1900)));
        assert_eq!(quantile(&v, 1.0), Some(ms(2000)));
        assert_eq!(quantile(&[ms(7)], 0.95), Some(ms(7)));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn the_table_has_a_row_per_kind_and_a_total() {
        let r = |step, kind, rec: Option<u64>, v: usize| Record {
            step,
            kind,
            what: kind.to_string(),
            recovery: rec.map(ms),
            outage: ms(500),
            longest: ms(500),
            settle: ms(3000),
            violations: vec![("one runner".into(), "x".into()); v],
        };
        let t = summary(&[
            r(1, "crash-bmc", Some(2000), 0),
            r(2, "crash-bmc", None, 0),
            r(3, "hang", Some(3000), 1),
        ]);
        assert!(
            t.contains(
                "| crash-bmc | 2 | 1 | 2.00 | 2.00 | 2.00 | 2.00 | 0.50 | 0.50 | 0.50 | 0 |"
            ),
            "{t}"
        );
        assert!(t.contains("| hang | 1 | 1 | 3.00 |"), "{t}");
        assert!(
            t.contains("| all | 3 | 2 | 2.00 | 3.00 | 3.00 | 3.00 |"),
            "{t}"
        );
        assert!(t.trim_end().ends_with("| 1 |"), "{t}");
        assert!(r(9, "hang", None, 2).line().contains("2 VIOLATION(S)"));
    }
}
