//! The gate a feature must pass to go live: the Wilson lower bound of the match rate, enough
//! samples from enough pages of enough users, and what is missing in an operator's words.

use serde::{Deserialize, Serialize};

/// The lower bound of the Wilson score interval (95 %) of `matched` successes in `samples`:
/// the match rate the evidence supports with 95 % confidence.
pub fn wilson_lower_bound(matched: u64, samples: u64) -> f64 {
    if samples == 0 {
        return 0.0;
    }
    const Z: f64 = 1.959_963_984_540_054;
    let n = samples as f64;
    let p = matched as f64 / n;
    let z2 = Z * Z;
    let centre = p + z2 / (2.0 * n);
    let spread = Z * ((p * (1.0 - p) + z2 / (4.0 * n)) / n).sqrt();
    ((centre - spread) / (1.0 + z2 / n)).clamp(0.0, 1.0)
}

/// What a feature needs before it may go live.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GateRule {
    /// The Wilson lower bound of the match rate must be at least this (0 to 1).
    pub min_match_rate: f64,
    pub min_samples: u64,
    /// Distinct pages that reported, from at least two users when it is two or more.
    pub min_pages: u64,
}

/// The evidence a gate is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GateEvidence {
    pub matched: u64,
    pub samples: u64,
    pub pages: u64,
    pub users: u64,
}

/// Whether a gate opens, and if not, what is missing in an operator's words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateVerdict {
    pub open: bool,
    pub lower_bound: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

impl GateRule {
    pub fn judge(&self, evidence: GateEvidence) -> GateVerdict {
        let lower_bound = wilson_lower_bound(evidence.matched, evidence.samples);
        let mut missing = Vec::new();
        if evidence.samples < self.min_samples {
            missing.push(format!(
                "{} more samples (have {}, need {})",
                self.min_samples - evidence.samples,
                evidence.samples,
                self.min_samples
            ));
        }
        if evidence.pages < self.min_pages {
            missing.push(format!(
                "reports from {} more pages (have {}, need {})",
                self.min_pages - evidence.pages,
                evidence.pages,
                self.min_pages
            ));
        }
        let users_needed = self.min_pages.min(2);
        if evidence.users < users_needed {
            missing.push(format!(
                "reports from {} more users (have {}, need {})",
                users_needed - evidence.users,
                evidence.users,
                users_needed
            ));
        }
        if lower_bound < self.min_match_rate {
            let more = self.matching_samples_needed(evidence);
            let rate = if evidence.samples == 0 {
                0.0
            } else {
                evidence.matched as f64 / evidence.samples as f64
            };
            missing.push(match more {
                Some(more) => format!(
                    "match rate {:.2} % (lower bound {:.2} %) is below {:.2} %: about {more} more \
                     matching samples without a mismatch",
                    rate * 100.0,
                    lower_bound * 100.0,
                    self.min_match_rate * 100.0
                ),
                None => format!(
                    "match rate {:.2} % (lower bound {:.2} %) is below {:.2} %, and no number of \
                     further matches reaches it soon: find the mismatches first",
                    rate * 100.0,
                    lower_bound * 100.0,
                    self.min_match_rate * 100.0
                ),
            });
        }
        GateVerdict {
            open: missing.is_empty(),
            lower_bound,
            missing,
        }
    }

    /// How many more matches in a row would lift the lower bound to the threshold (`None` if
    /// more than 2^19 = 524,288 would be needed: the search doubles up to there and stops).
    fn matching_samples_needed(&self, evidence: GateEvidence) -> Option<u64> {
        let reaches = |extra: u64| {
            wilson_lower_bound(evidence.matched + extra, evidence.samples + extra)
                >= self.min_match_rate
        };
        let mut high = 1u64;
        while !reaches(high) {
            high *= 2;
            if high > 1_000_000 {
                return None;
            }
        }
        let mut low = high / 2;
        while low + 1 < high {
            let mid = (low + high) / 2;
            if reaches(mid) {
                high = mid;
            } else {
                low = mid;
            }
        }
        Some(high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: GateRule = GateRule {
        min_match_rate: 0.995,
        min_samples: 100,
        min_pages: 2,
    };

    fn evidence(matched: u64, samples: u64) -> GateEvidence {
        GateEvidence {
            matched,
            samples,
            pages: 3,
            users: 2,
        }
    }

    #[test]
    fn the_wilson_bound_has_the_textbook_values() {
        // 95 % Wilson score intervals: 10/10 → [0.7225, 1], 5/10 → [0.2366, 0.7634].
        for (matched, samples, lower) in [
            (10, 10, 0.722_467),
            (5, 10, 0.236_593),
            (990, 1000, 0.981_691),
            (700, 800, 0.850_275),
        ] {
            let bound = wilson_lower_bound(matched, samples);
            assert!(
                (bound - lower).abs() < 1e-6,
                "{matched}/{samples}: {bound} is not {lower}"
            );
        }
    }

    #[test]
    fn exactly_the_minimum_of_each_requirement_opens_the_gate() {
        let rule = GateRule {
            min_match_rate: wilson_lower_bound(100, 100),
            min_samples: 100,
            min_pages: 2,
        };
        let verdict = rule.judge(GateEvidence {
            matched: 100,
            samples: 100,
            pages: 2,
            users: 2,
        });
        assert!(verdict.open, "{verdict:?}");
        assert_eq!(verdict.lower_bound, rule.min_match_rate);
    }

    #[test]
    fn a_rate_below_the_threshold_is_told_with_the_observed_rate_and_its_bound() {
        let verdict = RULE.judge(evidence(700, 800));
        let text = verdict.missing.join("; ");
        assert!(
            text.contains("match rate 87.50 % (lower bound 85.03 %) is below 99.50 %"),
            "{text}"
        );
        let nothing = RULE.judge(evidence(0, 0));
        assert_eq!(nothing.lower_bound, 0.0);
        assert!(
            nothing.missing.join("; ").contains("match rate 0.00 %"),
            "{nothing:?}"
        );
    }

    #[test]
    fn the_matches_still_needed_are_the_fewest_that_reach_the_threshold() {
        let text = RULE.judge(evidence(40, 40)).missing.join("; ");
        assert!(
            text.contains("about 725 more matching samples without a mismatch"),
            "{text}"
        );
        let rates = [0.9, 0.99, 0.995, 0.999];
        let cases = [(0, 1), (1, 1), (40, 40), (700, 800), (990, 1000), (5, 10)];
        for min_match_rate in rates {
            let rule = GateRule {
                min_match_rate,
                ..RULE
            };
            for (matched, samples) in cases {
                let reaches = |extra: u64| {
                    wilson_lower_bound(matched + extra, samples + extra) >= min_match_rate
                };
                if reaches(0) {
                    continue; // already above: the gate does not ask
                }
                let more = rule
                    .matching_samples_needed(evidence(matched, samples))
                    .expect("within a million");
                assert!(
                    reaches(more) && !reaches(more - 1),
                    "{matched}/{samples} at {min_match_rate}: {more}"
                );
            }
        }
    }

    #[test]
    fn evidence_too_far_below_the_threshold_says_to_find_the_mismatches() {
        // A 0 % match rate over 10 000 samples needs about two million matches in a row.
        let far = evidence(0, 10_000);
        assert_eq!(RULE.matching_samples_needed(far), None);
        let text = RULE.judge(far).missing.join("; ");
        assert!(text.contains("find the mismatches first"), "{text}");
    }
}
