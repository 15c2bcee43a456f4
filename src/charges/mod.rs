//! The decaying charge table: how much recent interpretation time each code object accounts
//! for, and which code objects have crossed the watermark.
//!
//! # The arithmetic
//! A charge decays exponentially with half-life `halflife` seconds. Multiplying every entry
//! down at each poll would cost O(n); instead the table keeps a growing `unit`: a charge of
//! `t` seconds made now is stored as `t * unit`, and advancing the clock by `dt` multiplies
//! `unit` by `2^(dt / halflife)`. A stored value `s` is therefore worth `s / unit` seconds
//! *today*, which is exactly the decayed charge. When `unit` grows past [`RESCALE_AT`] every
//! entry is divided by it and `unit` goes back to 1 (the log calls this "resetting stats");
//! entries that have decayed to nothing are dropped at the same time.
//!
//! `total` is the decayed sum of everything ever charged, so a function whose decayed charge
//! reaches `watermark × total` holds that fraction of recent time. It is *ready* when that holds
//! and the table has warmed up: the decayed total is at least [`WARMUP`] of the steady-state
//! total of one busy thread (`halflife / ln 2` seconds). Without the warm-up, the first sample
//! after start-up, always 100 % of the total, would select whatever happened to run.
//!
//! # Invariants
//! - Pure data: no Python, no locks, no clocks; callers pass elapsed time in. Keys are opaque.
//! - `total >= every entry` (both in stored units) up to rounding.
//! - Zeroing an entry (a function was selected) does not reduce `total`: its past work stays
//!   part of the recent history others are measured against.

use std::collections::HashMap;
use std::hash::Hash;

/// Rescale when the unit exceeds 2^120 (about 120 half-lives after the last rescale).
pub const RESCALE_AT: f64 = 1.329_227_995_784_916e36;
/// Fraction of one thread's steady-state total that must be charged before anything is ready.
pub const WARMUP: f64 = 0.1;

#[derive(Debug, Clone)]
pub struct ChargeTable<K: Hash + Eq + Copy> {
    charges: HashMap<K, f64>,
    total: f64,
    unit: f64,
    halflife: f64,
    resets: u64,
}

impl<K: Hash + Eq + Copy> ChargeTable<K> {
    /// `halflife` in seconds, > 0.
    pub fn new(halflife: f64) -> Self {
        assert!(halflife > 0.0 && halflife.is_finite());
        ChargeTable { charges: HashMap::new(), total: 0.0, unit: 1.0, halflife, resets: 0 }
    }

    pub fn halflife(&self) -> f64 {
        self.halflife
    }

    /// Number of rescales so far.
    pub fn resets(&self) -> u64 {
        self.resets
    }

    pub fn len(&self) -> usize {
        self.charges.len()
    }

    /// Lets `dt` seconds pass. Returns true if this rescaled the table ("resetting stats").
    pub fn advance(&mut self, dt: f64) -> bool {
        if !(dt > 0.0) || !dt.is_finite() {
            return false;
        }
        self.unit *= (dt / self.halflife).exp2();
        if self.unit >= RESCALE_AT || !self.unit.is_finite() {
            self.rescale();
            return true;
        }
        false
    }

    fn rescale(&mut self) {
        let u = self.unit;
        if u.is_finite() && u > 0.0 {
            for v in self.charges.values_mut() {
                *v /= u;
            }
            self.total /= u;
        } else {
            self.charges.clear();
            self.total = 0.0;
        }
        self.unit = 1.0;
        // Drop what has decayed to nothing relative to the total (keeps the table small).
        let floor = self.total * 1e-9;
        self.charges.retain(|_, v| *v > floor && *v > 0.0);
        self.resets += 1;
    }

    /// Charges `seconds` (>= 0) to `key` now; returns the key's decayed charge afterwards.
    pub fn charge(&mut self, key: K, seconds: f64) -> f64 {
        if !(seconds > 0.0) || !seconds.is_finite() {
            return self.decayed(key);
        }
        let add = seconds * self.unit;
        let v = self.charges.entry(key).or_insert(0.0);
        *v += add;
        let out = *v / self.unit;
        self.total += add;
        out
    }

    /// Decayed charge of `key`, in seconds.
    pub fn decayed(&self, key: K) -> f64 {
        self.charges.get(&key).map_or(0.0, |v| v / self.unit)
    }

    /// Decayed total, in seconds.
    pub fn total(&self) -> f64 {
        self.total / self.unit
    }

    /// Fraction of the total that `key` accounts for (0 when nothing was charged).
    pub fn fraction(&self, key: K) -> f64 {
        if self.total > 0.0 {
            self.charges.get(&key).map_or(0.0, |v| v / self.total)
        } else {
            0.0
        }
    }

    /// The watermark test (see the module doc).
    pub fn is_ready(&self, key: K, watermark: f64) -> bool {
        let Some(v) = self.charges.get(&key) else { return false };
        *v > 0.0 && *v >= watermark * self.total && self.warmed_up()
    }

    /// Whether enough has been charged for the watermark test to mean something.
    pub fn warmed_up(&self) -> bool {
        self.total / self.unit >= WARMUP * self.halflife / std::f64::consts::LN_2
    }

    /// Zeroes a selected function's charge (the total keeps it).
    pub fn zero(&mut self, key: K) {
        if let Some(v) = self.charges.get_mut(&key) {
            *v = 0.0;
        }
    }

    /// Forgets a key entirely (its code object died). The total keeps its history.
    pub fn remove(&mut self, key: K) {
        self.charges.remove(&key);
    }

    /// Drops every charge and the total (a new profiler with another half-life starts).
    pub fn clear(&mut self, halflife: f64) {
        assert!(halflife > 0.0 && halflife.is_finite());
        self.charges.clear();
        self.total = 0.0;
        self.unit = 1.0;
        self.halflife = halflife;
    }

    /// The `n` highest charges as (key, fraction of total), highest first; zero entries skipped.
    pub fn top(&self, n: usize) -> Vec<(K, f64)> {
        if self.total <= 0.0 {
            return Vec::new();
        }
        let mut v: Vec<(K, f64)> = self
            .charges
            .iter()
            .filter(|(_, c)| **c > 0.0)
            .map(|(k, c)| (*k, *c / self.total))
            .collect();
        v.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
        v.truncate(n);
        v
    }

}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn charge_halves_after_one_halflife() {
        let mut t = ChargeTable::new(0.5);
        t.charge(1, 1.0);
        t.advance(0.5);
        assert!(close(t.decayed(1), 0.5));
        t.advance(1.0);
        assert!(close(t.decayed(1), 0.125));
        assert!(close(t.total(), 0.125));
    }

    #[test]
    fn many_small_steps_equal_one_big_step() {
        let mut a = ChargeTable::new(0.3);
        let mut b = ChargeTable::new(0.3);
        a.charge('x', 2.0);
        b.charge('x', 2.0);
        for _ in 0..100 {
            a.advance(0.01);
        }
        b.advance(1.0);
        assert!(close(a.decayed('x'), b.decayed('x')));
        assert!(close(a.decayed('x'), 2.0 * (-1.0f64 / 0.3).exp2()));
    }

    #[test]
    fn growing_unit_matches_the_guides_per_poll_factor() {
        // Guide: the unit grows by 2^(1/(halflife*pollfreq)) at each poll.
        let (halflife, pollfreq) = (0.5, 20.0);
        let mut t = ChargeTable::new(halflife);
        t.advance(1.0 / pollfreq);
        let factor: f64 = (1.0 / (halflife * pollfreq)).exp2();
        t.charge(7, 1.0);
        t.advance(1.0 / pollfreq);
        assert!(close(t.decayed(7), 1.0 / factor));
    }

    #[test]
    fn newer_charges_outweigh_older_ones() {
        let mut t = ChargeTable::new(1.0);
        t.charge("old", 1.0);
        t.advance(3.0);
        t.charge("new", 0.2);
        assert!(t.decayed("new") > t.decayed("old"));
        assert!(close(t.decayed("old"), 0.125));
    }

    #[test]
    fn rescale_preserves_values_and_is_counted() {
        let mut t = ChargeTable::new(0.01);
        t.charge(1, 1.0);
        t.charge(2, 3.0);
        // 121 half-lives: past RESCALE_AT
        let mut rescaled = false;
        for _ in 0..121 {
            t.charge(2, 0.001);
            rescaled |= t.advance(0.01);
        }
        assert!(rescaled);
        assert!(t.resets() >= 1);
        // entry 1 is now ~2^-121 of its value: dropped as negligible
        assert!(t.decayed(1) < 1e-30);
        // entry 2 is dominated by its recent charges: ≈ sum of 0.001 * 2^-k
        let expect: f64 = (1..=121).map(|k| 0.001 * (-(k as f64)).exp2()).sum::<f64>();
        assert!((t.decayed(2) - expect).abs() < 1e-12, "{} vs {}", t.decayed(2), expect);
        assert!(t.total() >= t.decayed(2));
    }

    #[test]
    fn watermark_selects_the_hot_key_only_after_warmup() {
        let mut t = ChargeTable::new(0.5);
        t.charge(1, 0.01);
        // 100 % of the total but the table has not warmed up
        assert!(!t.is_ready(1, 0.09));
        for _ in 0..20 {
            t.charge(1, 0.01);
            t.charge(2, 0.0005);
            t.advance(0.01);
        }
        // 0.2 s charged: past 10 % of 0.5/ln2 = 0.072 s
        assert!(t.is_ready(1, 0.09));
        assert!(!t.is_ready(2, 0.09));
        assert!(t.fraction(1) > 0.9);
    }

    #[test]
    fn warmup_is_a_tenth_of_the_steady_total() {
        // halflife 0.5 s: one busy thread's steady total is 0.5 / ln 2 = 0.721 s, so two
        // 50 ms polls (0.1 s) warm the table up and one (0.05 s) does not.
        let mut t = ChargeTable::new(0.5);
        t.charge(1, 0.05);
        assert!(!t.warmed_up());
        assert!(!t.is_ready(1, 0.09));
        t.charge(1, 0.05);
        assert!(t.warmed_up());
        assert!(t.is_ready(1, 0.09));
    }

    #[test]
    fn watermark_is_a_fraction_of_the_total() {
        let mut t = ChargeTable::new(0.1);
        for k in 0..10 {
            t.charge(k, 0.1);
        }
        // each holds 10 %
        assert!(t.is_ready(3, 0.1));
        assert!(!t.is_ready(3, 0.11));
        assert!(close(t.fraction(3), 0.1));
    }

    #[test]
    fn zero_keeps_total_and_removes_entry_weight() {
        let mut t = ChargeTable::new(1.0);
        t.charge(1, 1.0);
        t.charge(2, 1.0);
        t.zero(1);
        assert_eq!(t.decayed(1), 0.0);
        assert!(close(t.total(), 2.0));
        assert!(!t.is_ready(1, 0.0001));
        assert_eq!(t.top(5).len(), 1);
    }

    #[test]
    fn top_is_sorted_and_truncated() {
        let mut t = ChargeTable::new(1.0);
        t.charge('a', 1.0);
        t.charge('b', 3.0);
        t.charge('c', 2.0);
        let top = t.top(2);
        assert_eq!(top.iter().map(|x| x.0).collect::<Vec<_>>(), vec!['b', 'c']);
        assert!(close(top[0].1, 0.5));
    }

    #[test]
    fn bad_inputs_are_ignored() {
        let mut t = ChargeTable::new(1.0);
        t.charge(1, f64::NAN);
        t.charge(1, -1.0);
        t.charge(1, f64::INFINITY);
        assert_eq!(t.total(), 0.0);
        assert!(!t.advance(f64::NAN));
        assert!(!t.advance(-3.0));
        assert!(t.top(3).is_empty());
    }

    #[test]
    fn remove_and_clear() {
        let mut t = ChargeTable::new(1.0);
        t.charge(1, 1.0);
        t.remove(1);
        assert_eq!(t.len(), 0);
        assert!(close(t.total(), 1.0));
        t.clear(2.0);
        assert_eq!(t.total(), 0.0);
        assert_eq!(t.halflife(), 2.0);
    }
}
