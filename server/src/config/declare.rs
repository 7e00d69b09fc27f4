//! The macro that turns the one table of settings in `config.rs` into everything else.

use super::Settings;
use figment::value::Value;

/// One setting's names, for messages and the README.
#[derive(Debug, PartialEq, Eq)]
pub struct Declared {
    /// Its key in the settings file, with its section: `hub.queue-capacity`.
    pub key: &'static str,
    /// The environment variable that overrides it.
    pub env: &'static str,
    /// What it is, in the README's words: the field's doc comment.
    pub about: &'static str,
}

/// One setting as the layers and the README use it, made by [`declare_settings!`].
pub(super) struct Entry {
    pub declared: &'static Declared,
    pub env_note: &'static str,
    pub secret: bool,
    pub from_env: fn(&str) -> Result<Value, String>,
    /// Reads a layer's value into its field of `Settings`.
    pub apply: fn(&mut Settings, &Value) -> Result<(), String>,
    /// The README's default cell, given the defaults.
    pub shown: fn(&Settings) -> String,
}

/// Declares every setting once:
///
/// ```text
/// /// Description, the README's "Setting" cell.
/// field: Type = default, key "file-key", env "VARIABLE" [, shown "README default cell"];
/// ```
///
/// under `section: SectionStruct { … }`. It makes `Settings`, one public struct per section
/// with its `Default`, `declared::<section>::<field>` (names for `validate`'s messages) and
/// `ENTRIES`, the table the layers, the unknown-key check and the README are built from.
macro_rules! declare_settings {
    (@shown [$shown:expr] $defaults:ident . $section:ident . $field:ident) => {{
        // The cell is written out; the defaults are not needed.
        let _ = $defaults;
        String::from($shown)
    }};
    (@shown [] $defaults:ident . $section:ident . $field:ident) => {
        format!("`{}`", Kind::show(&$defaults.$section.$field))
    };
    (
        $(
            $(#[doc = $section_doc:literal])*
            $section:ident: $Section:ident {
                $(
                    $(#[doc = $doc:literal])*
                    $field:ident: $ty:ty = $default:expr,
                    key $key:literal, env $env:literal $(, shown $shown:expr)?;
                )*
            }
        )*
    ) => {
        /// Everything `thor` runs with; the module documentation says where each value comes from.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $(pub $section: $Section,)*
        }

        impl Default for Settings {
            fn default() -> Self {
                Self { $($section: $Section::default(),)* }
            }
        }

        $(
            $(#[doc = $section_doc])*
            #[derive(Debug, Clone)]
            pub struct $Section {
                $(
                    $(#[doc = $doc])*
                    pub $field: $ty,
                )*
            }

            impl Default for $Section {
                fn default() -> Self {
                    Self { $($field: $default,)* }
                }
            }
        )*

        /// Each setting's key and variable, as `declared::<section>::<field>`.
        pub mod declared {
            $(
                #[allow(non_upper_case_globals)]
                pub mod $section {
                    use $crate::config::Declared;
                    $(
                        pub const $field: Declared = Declared {
                            key: concat!(stringify!($section), ".", $key),
                            env: $env,
                            about: concat!($($doc),*),
                        };
                    )*
                }
            )*
        }

        /// Every setting, in declaration order (the README's order).
        const ENTRIES: &[Entry] = &[$($(
            Entry {
                declared: &declared::$section::$field,
                env_note: <$ty as Kind>::ENV_NOTE,
                secret: <$ty as Kind>::SECRET,
                from_env: <$ty as Kind>::from_env,
                apply: |settings, value| {
                    settings.$section.$field = <$ty as Kind>::from_value(value)?;
                    Ok(())
                },
                shown: |defaults| declare_settings!(@shown [$($shown)?] defaults.$section.$field),
            },
        )*)*];
    };
}

pub(super) use declare_settings;
