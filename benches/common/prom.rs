//! Figures read from the server's Prometheus text exposition: counters summed over their
//! series, and histograms as cumulative buckets that can be merged over nodes, taken as
//! the difference between two scrapes, and read as quantiles.

#![allow(dead_code)] // not every benchmark uses every helper

/// A metric's value (summed over its series) from Prometheus text.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A histogram's cumulative buckets `(le, count)`, by upper bound (+Inf last).
pub fn histogram(text: &str, name: &str) -> Vec<(f64, f64)> {
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{name}_bucket{{le=\"")))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

/// The bucket-by-bucket sum of histograms with the same bounds (several nodes' histograms).
pub fn merge(histograms: &[Vec<(f64, f64)>]) -> Vec<(f64, f64)> {
    let mut sum: Vec<(f64, f64)> = Vec::new();
    for h in histograms {
        if sum.is_empty() {
            sum.clone_from(h);
            continue;
        }
        for ((_, total), (_, count)) in sum.iter_mut().zip(h) {
            *total += count;
        }
    }
    sum
}

/// What was observed between two scrapes of one histogram: `after - before`, bucket by bucket.
pub fn since(after: &[(f64, f64)], before: &[(f64, f64)]) -> Vec<(f64, f64)> {
    after
        .iter()
        .map(|(le, count)| {
            let earlier = before
                .iter()
                .find(|(b, _)| b == le)
                .map_or(0.0, |(_, c)| *c);
            (*le, count - earlier)
        })
        .collect()
}

/// The `q` quantile of cumulative buckets, as the upper bound of the bucket that holds it.
pub fn quantile_of(buckets: &[(f64, f64)], q: f64) -> String {
    let total = buckets.last().map_or(0.0, |b| b.1);
    if total <= 0.0 {
        return "n/a".to_owned();
    }
    buckets
        .iter()
        .find(|(_, c)| *c >= q * total)
        .map_or("n/a".to_owned(), |(le, _)| format!("≤ {le} s"))
}

/// The `q` quantile of a histogram in Prometheus text, as the upper bound of its bucket.
pub fn quantile(text: &str, name: &str, q: f64) -> String {
    quantile_of(&histogram(text, name), q)
}
