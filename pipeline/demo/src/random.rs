//! Seeded randomness: one generator per labelled part of the state (a
//! file, a municipality-year), so that parts can be made in any order, or
//! alone, and still come out the same.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// The generator of the part named by `labels` under `seed`.
pub fn rng_for(seed: u64, labels: &[&str]) -> StdRng {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    for l in labels {
        h.update((l.len() as u64).to_le_bytes());
        h.update(l.as_bytes());
    }
    let digest: [u8; 32] = h.finalize().into();
    StdRng::from_seed(digest)
}

/// The draws the generators need, on any `Rng`.
pub trait Draw {
    /// 0..n.
    fn below(&mut self, n: usize) -> usize;
    fn chance(&mut self, p: f64) -> bool;
    fn uniform(&mut self, low: f64, high: f64) -> f64;
    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64;
    fn poisson(&mut self, mean: f64) -> u64;
    fn binomial(&mut self, n: u64, p: f64) -> u64;
    /// One of `items`, weighted.
    fn weighted<'a, T>(&mut self, items: &'a [(T, f64)]) -> &'a T;
}

impl<R: Rng> Draw for R {
    fn below(&mut self, n: usize) -> usize {
        self.random_range(0..n)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.random::<f64>() < p
    }

    fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.random::<f64>()
    }

    fn normal(&mut self) -> f64 {
        let u1 = self.random::<f64>().max(f64::MIN_POSITIVE);
        let u2 = self.random::<f64>();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        if mean > 50.0 {
            return (mean + mean.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        // Knuth: multiply uniforms until the product drops below e^-mean.
        let limit = (-mean).exp();
        let (mut k, mut product) = (0u64, self.random::<f64>());
        while product > limit {
            k += 1;
            product *= self.random::<f64>();
        }
        k
    }

    fn binomial(&mut self, n: u64, p: f64) -> u64 {
        let p = p.clamp(0.0, 1.0);
        if n < 64 {
            return (0..n).filter(|_| self.chance(p)).count() as u64;
        }
        let mean = n as f64 * p;
        let sd = (mean * (1.0 - p)).sqrt();
        if mean < 30.0 {
            return self.poisson(mean).min(n);
        }
        ((mean + sd * self.normal()).round().max(0.0) as u64).min(n)
    }

    fn weighted<'a, T>(&mut self, items: &'a [(T, f64)]) -> &'a T {
        let total: f64 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.random::<f64>() * total;
        for (item, w) in items {
            if x < *w {
                return item;
            }
            x -= w;
        }
        &items[items.len() - 1].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_generators_repeat_and_differ() {
        let a: Vec<u64> = (0..4).map(|_| rng_for(1, &["x", "1"]).random()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let b: u64 = rng_for(1, &["x1"]).random();
        assert_ne!(a[0], b, "labels are delimited");
        let mut r = rng_for(3, &["draws"]);
        let mean = (0..4000).map(|_| r.poisson(4.0)).sum::<u64>() as f64 / 4000.0;
        assert!((mean - 4.0).abs() < 0.2, "{mean}");
        let big = (0..200).map(|_| r.binomial(10_000, 0.3)).sum::<u64>() as f64 / 200.0;
        assert!((big - 3000.0).abs() < 30.0, "{big}");
    }
}
