//! Prometheus metrics, kept in memory and rendered as text at `/metrics`.
//!
//! Plain counters behind one mutex: a plugin call records once, after it
//! finished, so the lock is short and never held across an await.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::runtime::CallTimings;

/// Upper bounds of the call duration histogram, seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
    /// Seconds spent in each phase, summed over the calls.
    phases: [f64; CallTimings::PHASES],
}

/// A plugin's calls so far and the seconds they spent in each phase
/// ([`Metrics::phase_totals`]).
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseTotals {
    /// Calls recorded.
    pub calls: u64,
    /// (phase, seconds) in call order.
    pub seconds: Vec<(&'static str, f64)>,
}

impl PhaseTotals {
    /// Seconds spent in `phase` (a [`CallTimings::phases`] label).
    pub fn seconds_in(&self, phase: &str) -> Option<f64> {
        self.seconds
            .iter()
            .find(|(name, _)| *name == phase)
            .map(|(_, secs)| *secs)
    }
}

#[derive(Default)]
struct Inner {
    calls: BTreeMap<(String, String, String), u64>,
    durations: BTreeMap<(String, String), Histogram>,
    limit_hits: BTreeMap<(String, String, String), u64>,
    cache: BTreeMap<String, u64>,
}

/// The host's metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Record one plugin call: its outcome (`ok`, `plugin_error`, `trap`,
    /// `deadline`, `limit`, `conflict`, `refused`, `internal`), duration
    /// and where the time went.
    pub fn call(
        &self,
        coop: &str,
        plugin: &str,
        outcome: &str,
        elapsed: Duration,
        timings: &CallTimings,
    ) {
        let mut m = self.inner.lock().expect("metrics poisoned");
        *m.calls
            .entry((coop.to_string(), plugin.to_string(), outcome.to_string()))
            .or_default() += 1;
        let h = m
            .durations
            .entry((coop.to_string(), plugin.to_string()))
            .or_default();
        if h.counts.is_empty() {
            h.counts = vec![0; BUCKETS.len()];
        }
        let secs = elapsed.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
        for (total, (_, d)) in h.phases.iter_mut().zip(timings.phases()) {
            *total += d.as_secs_f64();
        }
    }

    /// A plugin's call count and time per phase in one coop, if it was
    /// called.
    pub fn phase_totals(&self, coop: &str, plugin: &str) -> Option<PhaseTotals> {
        let m = self.inner.lock().expect("metrics poisoned");
        let h = m.durations.get(&(coop.to_string(), plugin.to_string()))?;
        Some(PhaseTotals {
            calls: h.count,
            seconds: CallTimings::PHASE_NAMES.into_iter().zip(h.phases).collect(),
        })
    }

    /// Record a limit hit (`deadline`, `memory`, `host_calls`, ...).
    pub fn limit_hit(&self, coop: &str, plugin: &str, limit: &str) {
        let mut m = self.inner.lock().expect("metrics poisoned");
        *m.limit_hits
            .entry((coop.to_string(), plugin.to_string(), limit.to_string()))
            .or_default() += 1;
    }

    /// Record a compile cache lookup (`hit` or `miss`).
    pub fn cache(&self, outcome: &str) {
        *self
            .inner
            .lock()
            .expect("metrics poisoned")
            .cache
            .entry(outcome.to_string())
            .or_default() += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let m = self.inner.lock().expect("metrics poisoned");
        let mut s = String::new();
        s.push_str("# HELP coophost_plugin_calls_total Plugin calls by outcome.\n# TYPE coophost_plugin_calls_total counter\n");
        for ((coop, plugin, outcome), n) in &m.calls {
            let _ = writeln!(
                s,
                "coophost_plugin_calls_total{{coop=\"{}\",plugin=\"{}\",outcome=\"{}\"}} {n}",
                esc(coop),
                esc(plugin),
                esc(outcome)
            );
        }
        s.push_str("# HELP coophost_plugin_call_duration_seconds Plugin call durations.\n# TYPE coophost_plugin_call_duration_seconds histogram\n");
        for ((coop, plugin), h) in &m.durations {
            let labels = format!("coop=\"{}\",plugin=\"{}\"", esc(coop), esc(plugin));
            for (b, c) in BUCKETS.iter().zip(&h.counts) {
                let _ = writeln!(
                    s,
                    "coophost_plugin_call_duration_seconds_bucket{{{labels},le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                s,
                "coophost_plugin_call_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                s,
                "coophost_plugin_call_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                s,
                "coophost_plugin_call_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        s.push_str("# HELP coophost_plugin_call_phase_seconds_total Time plugin calls spent in each phase: map_in (JSON to WIT), instantiate (start functions included), guest (its own code), host (host functions it called and the runtime calls that can fail, such as memory growth and epoch yields, awaits included), map_out (WIT to JSON), teardown (slot reset), commit.\n# TYPE coophost_plugin_call_phase_seconds_total counter\n");
        for ((coop, plugin), h) in &m.durations {
            for (phase, secs) in CallTimings::PHASE_NAMES.iter().zip(h.phases) {
                let _ = writeln!(
                    s,
                    "coophost_plugin_call_phase_seconds_total{{coop=\"{}\",plugin=\"{}\",phase=\"{phase}\"}} {secs}",
                    esc(coop),
                    esc(plugin)
                );
            }
        }
        s.push_str("# HELP coophost_plugin_limit_hits_total Calls stopped by a limit.\n# TYPE coophost_plugin_limit_hits_total counter\n");
        for ((coop, plugin, limit), n) in &m.limit_hits {
            let _ = writeln!(
                s,
                "coophost_plugin_limit_hits_total{{coop=\"{}\",plugin=\"{}\",limit=\"{}\"}} {n}",
                esc(coop),
                esc(plugin),
                esc(limit)
            );
        }
        s.push_str("# HELP coophost_compile_cache_total Compiled component lookups.\n# TYPE coophost_compile_cache_total counter\n");
        for (outcome, n) in &m.cache {
            let _ = writeln!(
                s,
                "coophost_compile_cache_total{{outcome=\"{}\"}} {n}",
                esc(outcome)
            );
        }
        s
    }
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        let timings = CallTimings {
            instantiate: Duration::from_millis(1),
            host: Duration::from_millis(2),
            ..CallTimings::default()
        };
        m.call("a", "p", "ok", Duration::from_millis(3), &timings);
        m.call("a", "p", "ok", Duration::from_millis(30), &timings);
        m.limit_hit("a", "p", "memory");
        m.cache("hit");
        let text = m.render();
        assert!(
            text.contains("coophost_plugin_calls_total{coop=\"a\",plugin=\"p\",outcome=\"ok\"} 2"),
            "{text}"
        );
        assert!(text.contains("le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("le=\"0.05\"} 2"), "{text}");
        assert!(text.contains("limit=\"memory\"} 1"), "{text}");
        assert!(
            text.contains("coophost_compile_cache_total{outcome=\"hit\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "coophost_plugin_call_phase_seconds_total{coop=\"a\",plugin=\"p\",phase=\"host\"} 0.004"
            ),
            "{text}"
        );
        let totals = m.phase_totals("a", "p").expect("a/p was called");
        assert_eq!(totals.calls, 2);
        assert_eq!(totals.seconds.len(), 7);
        assert_eq!(totals.seconds[1], ("instantiate", 0.002));
        assert_eq!(totals.seconds[0], ("map_in", 0.0));
        assert_eq!(totals.seconds_in("host"), Some(0.004));
        assert_eq!(totals.seconds_in("nap"), None);
        assert_eq!(m.phase_totals("a", "other"), None);
    }
}
