//! The zero-loss forwarding rate (RFC 2544 style): a binary search on the offered rate, where a
//! rate passes when the loss is below a threshold. Pure, so the search itself is unit-tested;
//! the benchmark supplies the trial (offer a rate for a while, count what arrived).

/// One trial at a requested rate, with what was actually offered and what arrived.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trial {
    pub requested: f64,
    /// Packets per second the generator really sent (it may fall short of `requested`).
    pub offered: f64,
    pub forwarded: f64,
}

impl Trial {
    pub fn loss(&self) -> f64 {
        if self.offered <= 0.0 {
            return 0.0;
        }
        (1.0 - self.forwarded / self.offered).max(0.0)
    }
}

/// The outcome: the best passing trial, and whether it was bounded by the generator (the
/// highest rate it could offer passed, so the zero-loss rate is at least that).
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub best: Option<Trial>,
    pub generator_bound: bool,
    pub trials: Vec<Trial>,
}

/// Searches `[0, max]`: first a trial at `max` (which also finds the generator's ceiling), then
/// `steps` bisections between the best passing and the lowest failing offered rate.
pub fn search(
    max: f64,
    steps: usize,
    max_loss: f64,
    mut trial: impl FnMut(f64) -> Trial,
) -> Search {
    let mut trials = Vec::new();
    let first = trial(max);
    trials.push(first);
    if first.loss() < max_loss {
        return Search {
            best: Some(first),
            generator_bound: true,
            trials,
        };
    }
    // Bisect on the rates the generator really achieved: asking for more than it can offer
    // would measure the same thing twice.
    let (mut lo, mut hi) = (0.0f64, first.offered.min(max));
    let mut best = None;
    for _ in 0..steps {
        let mid = (lo + hi) / 2.0;
        let t = trial(mid);
        trials.push(t);
        if t.loss() < max_loss {
            lo = mid;
            best = Some(t);
        } else {
            hi = mid;
        }
    }
    Search {
        best,
        generator_bound: false,
        trials,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device forwarding up to `cap` pps behind a generator that offers at most `gen`.
    fn device(cap: f64, gen: f64) -> impl FnMut(f64) -> Trial {
        move |r| {
            let offered = r.min(gen);
            Trial {
                requested: r,
                offered,
                forwarded: offered.min(cap),
            }
        }
    }

    #[test]
    fn finds_the_capacity_within_the_resolution() {
        let s = search(1_000_000.0, 10, 0.001, device(237_000.0, 360_000.0));
        let best = s.best.unwrap();
        assert!(!s.generator_bound);
        assert!(
            best.offered <= 237_000.0 && best.offered > 236_000.0,
            "{best:?}"
        );
        assert_eq!(s.trials.len(), 11);
    }

    #[test]
    fn a_device_faster_than_the_generator_is_generator_bound() {
        let s = search(1_000_000.0, 10, 0.001, device(500_000.0, 360_000.0));
        assert!(s.generator_bound);
        assert_eq!(s.best.unwrap().offered, 360_000.0);
        assert_eq!(s.trials.len(), 1);
    }

    #[test]
    fn loss_below_the_threshold_passes() {
        let t = Trial {
            requested: 1000.0,
            offered: 1000.0,
            forwarded: 999.5,
        };
        assert!(t.loss() < 0.001);
    }
}
