//! The README's configuration table, rendered from the declarations.

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
