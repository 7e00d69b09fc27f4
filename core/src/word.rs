//! The unit enums of the wire and the cookies (`"buy"`, `"live"`, `"intraday_bar"`, …) read from
//! their one word by a table, not by serde's derived reader.
//!
//! Why: serde's derive writes, for every enum, a reader of a variant *name or index* through
//! `deserialize_enum` (about 1.3 KB of the browser's WebAssembly each, thirteen of them). A word
//! looked up in a table is one small reader shared by all. The words are those the derived
//! `Serialize` writes (each type's test checks every variant both ways), and a word that is not
//! one is refused with serde's own message: ``unknown variant `x`, expected one of `a`, `b` ``.

use serde::Deserializer;
use serde::de::{self, Visitor};
use std::fmt;

/// The index in `words` of the word `deserializer` holds.
pub fn read<'de, D: Deserializer<'de>>(
    deserializer: D,
    words: &'static [&'static str],
) -> Result<usize, D::Error> {
    struct Word(&'static [&'static str]);
    impl Visitor<'_> for Word {
        type Value = usize;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "one of {}", self.0.join(", "))
        }
        fn visit_str<E: de::Error>(self, word: &str) -> Result<usize, E> {
            self.0
                .iter()
                .position(|w| *w == word)
                .ok_or_else(|| E::unknown_variant(word, self.0))
        }
    }
    deserializer.deserialize_str(Word(words))
}

/// `Deserialize` for unit enums by [`read`], and `WORDS`: every variant with its word.
macro_rules! read_as_word {
    ($($ty:ident { $($variant:ident = $word:literal),+ $(,)? })+) => {$(
        impl $ty {
            /// Every variant with its word on the wire.
            pub const WORDS: &'static [($ty, &'static str)] = &[$(($ty::$variant, $word)),+];
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                const ALL: &[$ty] = &[$($ty::$variant),+];
                crate::word::read(deserializer, &[$($word),+]).map(|i| ALL[i])
            }
        }
    )+};
}
pub(crate) use read_as_word;

#[cfg(test)]
pub(crate) mod tests {
    use serde::{Deserialize, Serialize};
    use std::fmt::Debug;

    /// Every variant listed is written as its word and read back from it; a word that is none
    /// is refused with serde's message. `all` is the type's own list where it has one, so a
    /// variant missing from `WORDS` is caught.
    pub(crate) fn words_round_trip<T>(words: &[(T, &str)], all: &[T])
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + Debug + Copy,
    {
        for (value, word) in words {
            let json = serde_json::to_string(value).unwrap_or_default();
            assert_eq!(
                json,
                format!("\"{word}\""),
                "{value:?} is written as its word"
            );
            assert_eq!(
                serde_json::from_str::<T>(&json).ok(),
                Some(*value),
                "{word} is read back"
            );
        }
        for value in all {
            assert!(
                words.iter().any(|(v, _)| v == value),
                "{value:?} has a word"
            );
        }
        let refused = serde_json::from_str::<T>("\"no_such_word\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            refused.starts_with("unknown variant `no_such_word`, expected "),
            "{refused}"
        );
        assert!(
            words
                .iter()
                .all(|(_, w)| refused.contains(&format!("`{w}`"))),
            "the refusal names every word: {refused}"
        );
        assert!(
            serde_json::from_str::<T>("7").is_err(),
            "a number is no word"
        );
    }

    #[test]
    fn every_unit_enum_reads_the_word_it_writes() {
        use crate::chart_view::{Interval, Zone};
        use crate::cutover::Stage;
        use crate::feature::Feature;
        use crate::global_market::{MarketEventKind, MarketStatusKind};
        use crate::order::{OrderStatus, OrderType, Side, TimeInForce};
        use crate::protocol::{ErrorCode, SnapshotReason};
        use crate::topic::Topic;
        words_round_trip(Feature::WORDS, &Feature::ALL);
        words_round_trip(Topic::WORDS, &Topic::ALL);
        words_round_trip(Interval::WORDS, &Interval::ALL);
        words_round_trip(Zone::WORDS, &Zone::ALL);
        words_round_trip(Stage::WORDS, &[Stage::Rest, Stage::Shadow, Stage::Live]);
        words_round_trip(Side::WORDS, &[Side::Buy, Side::Sell]);
        words_round_trip(OrderType::WORDS, &[OrderType::Market, OrderType::Limit]);
        words_round_trip(TimeInForce::WORDS, &[TimeInForce::Day, TimeInForce::Gtc]);
        use OrderStatus::*;
        words_round_trip(
            OrderStatus::WORDS,
            &[Open, Filled, Cancelled, Expired, Rejected],
        );
        use SnapshotReason::*;
        words_round_trip(
            SnapshotReason::WORDS,
            &[NewEpoch, BeyondBuffer, AheadOfServer],
        );
        use ErrorCode::*;
        words_round_trip(
            ErrorCode::WORDS,
            &[
                BadFrame,
                UnknownType,
                BinaryFrame,
                UnknownSymbol,
                RateLimited,
            ],
        );
        use MarketStatusKind as S;
        words_round_trip(
            MarketStatusKind::WORDS,
            &[S::Premarket, S::Open, S::Lunch, S::Closed],
        );
        use MarketEventKind as E;
        words_round_trip(
            MarketEventKind::WORDS,
            &[
                E::Open,
                E::Close,
                E::LunchStart,
                E::LunchEnd,
                E::PremarketStart,
            ],
        );
        // As map keys too (the flags' features, the resume's topics).
        let flags: crate::map::Map<Feature, u8> =
            serde_json::from_str(r#"{"orders":1,"intraday":2}"#).unwrap_or_default();
        assert_eq!(flags.get(&Feature::Orders), Some(&1));
        assert_eq!(flags.get(&Feature::Intraday), Some(&2));
    }
}
