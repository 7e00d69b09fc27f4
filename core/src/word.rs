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

/// The value whose word is `text`, from a type's `WORDS`; otherwise says which words there are.
pub fn parse<T: Copy>(words: &[(T, &'static str)], text: &str) -> Result<T, String> {
    words
        .iter()
        .find(|(_, w)| *w == text)
        .map(|(v, _)| *v)
        .ok_or_else(|| {
            let all: Vec<&str> = words.iter().map(|(_, w)| *w).collect();
            format!("{text:?} is not one of {}", all.join(", "))
        })
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
}
