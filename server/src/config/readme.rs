//! The README's configuration table, rendered from the declarations. A test keeps README.md's
//! copy equal to it, so the table cannot drift from the code.

use super::{ENTRIES, Settings};

/// Rows for variables that are not server settings: clap reads `THOR_CONFIG`, `main` reads
/// `RUST_LOG`, the tests read the last two. They are kept here rather than below the table so
/// the README keeps one table and the test checks every row of it.
const FIRST_ROWS: &[[&str; 4]] = &[[
    "Settings file",
    "—",
    "`THOR_CONFIG` (or `--config`)",
    "`./Leptos.toml` if present",
]];
const LAST_ROWS: &[[&str; 4]] = &[
    [
        "Log filter",
        "—",
        "`RUST_LOG`",
        "`info,sqlx=warn,tower_http=warn`",
    ],
    [
        "Test PostgreSQL server",
        "—",
        "`THOR_TEST_POSTGRES_URL`",
        "`postgres://postgres@127.0.0.1:5432`",
    ],
    [
        "Test Redis server",
        "—",
        "`THOR_TEST_REDIS_URL`",
        "`redis://127.0.0.1:6379`",
    ],
];

/// The README's configuration table, as Markdown: one row per setting, in declaration order.
pub fn configuration_table() -> String {
    let defaults = Settings::default();
    let settings = ENTRIES.iter().map(|entry| {
        let declared = entry.declared;
        [
            declared.about.trim().to_string(),
            format!("`{}`", declared.key),
            format!("`{}`{}", declared.env, entry.env_note),
            (entry.shown)(&defaults),
        ]
    });
    let fixed = |rows: &'static [[&str; 4]]| rows.iter().map(|row| row.map(String::from));
    let mut table = String::from("| Setting | `Leptos.toml` key | Environment | Default |\n");
    table.push_str("|---|---|---|---|\n");
    for row in fixed(FIRST_ROWS).chain(settings).chain(fixed(LAST_ROWS)) {
        table.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"));
    const BEGIN: &str = "<!-- configuration table: generated from server/src/config.rs";
    const END: &str = "<!-- end of configuration table -->";

    #[test]
    fn the_readme_configuration_table_is_the_declared_one() {
        let begin = README
            .find(BEGIN)
            .expect("README.md has the table's start marker");
        let after_marker = begin + README[begin..].find('\n').expect("marker line ends") + 1;
        let end = README
            .find(END)
            .expect("README.md has the table's end marker");
        let expected = configuration_table();
        assert!(
            README[after_marker..end].trim() == expected.trim(),
            "README.md's configuration table differs from the declarations in \
             server/src/config.rs; put this between the markers:\n\n{expected}"
        );
    }

    #[test]
    fn every_setting_has_a_description_a_unique_key_and_a_unique_variable() {
        for (i, entry) in ENTRIES.iter().enumerate() {
            let declared = entry.declared;
            assert!(
                !declared.about.trim().is_empty(),
                "{} has no doc",
                declared.key
            );
            assert!(
                !declared.about.contains('|'),
                "{} breaks the table",
                declared.key
            );
            for other in &ENTRIES[..i] {
                assert_ne!(declared.key, other.declared.key);
                assert_ne!(declared.env, other.declared.env);
            }
        }
    }
}
