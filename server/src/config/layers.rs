//! The settings file and the environment as figment layers, and the messages that say which
//! layer a bad value came from.

use super::{DatabaseUrl, Declared, ENTRIES, Entry};
use anyhow::Context;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use std::path::Path;

/// One layer of values. Figment keeps its metadata with every value it gives, which is how a
/// message can say "from Leptos.toml" or "from THOR_QUEUE_CAPACITY".
pub(super) struct Layer {
    metadata: Metadata,
    values: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Origin<'a> {
    File(&'a str),
    Environment,
    /// The declared default, or a value set in code (tests).
    Code,
}

/// The settings file's values. Syntax errors stop here; unknown sections and keys are added to
/// `problems` (so a typo is never silently ignored) and their values are never read.
pub(super) fn file(text: &str, source: &str, problems: &mut Vec<String>) -> anyhow::Result<Layer> {
    let values: Dict = toml::from_str(text).with_context(|| format!("cannot parse {source}"))?;
    let sections: Vec<&str> = sections().collect();
    for (section, table) in &values {
        if !sections.contains(&section.as_str()) {
            problems.push(format!(
                "{source}: unknown section [{section}] (the sections are {})",
                sections.join(", ")
            ));
            continue;
        }
        let Value::Dict(_, table) = table else {
            problems.push(format!(
                "{source}: {section} must be a table, written [{section}]"
            ));
            continue;
        };
        let known: Vec<&str> = ENTRIES
            .iter()
            .filter_map(|entry| entry.declared.key.strip_prefix(section.as_str()))
            .filter_map(|name| name.strip_prefix('.'))
            .collect();
        for name in table.keys() {
            if !known.contains(&name.as_str()) {
                problems.push(format!(
                    "{source}: unknown key {section}.{name} ([{section}] takes {})",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(Layer {
        metadata: Metadata::named(source.to_string()).source(Path::new(source)),
        values,
    })
}

/// The declared variables that are set and not blank. A value that does not read as its
/// setting's type is added to `problems` with the variable's name and text.
pub(super) fn environment(
    env: impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> Layer {
    let mut values = Dict::new();
    for entry in ENTRIES {
        let declared = entry.declared;
        // A blank variable is how shells and compose files leave a setting unset.
        let Some(text) = env(declared.env).filter(|text| !text.trim().is_empty()) else {
            continue;
        };
        match (entry.from_env)(&text) {
            Ok(value) => {
                let (section, name) = split(declared.key);
                if let Value::Dict(_, table) = values
                    .entry(section.to_string())
                    .or_insert_with(|| Dict::new().into())
                {
                    table.insert(name.to_string(), value);
                }
            }
            Err(reason) => problems.push(problem(
                declared,
                Origin::Environment,
                &shown(entry, text),
                &reason,
            )),
        }
    }
    // No source: that is how `origin` tells this layer from the file's.
    Layer {
        metadata: Metadata::named("the environment"),
        values,
    }
}

/// The layer that gave `key`'s value, or `Code` when none did.
pub(super) fn origin<'a>(layers: &'a Figment, key: &str) -> Origin<'a> {
    match layers.find_metadata(key) {
        Some(metadata) if metadata.source.is_some() => Origin::File(&metadata.name),
        Some(_) => Origin::Environment,
        None => Origin::Code,
    }
}

/// A layer's value as text for a message: strings as written, anything else as JSON (which
/// reads like TOML for numbers, booleans and lists).
pub(super) fn written(entry: &Entry, value: &Value) -> String {
    let text = match value {
        Value::String(_, text) => text.clone(),
        other => serde_json::to_string(other).unwrap_or_else(|_| "?".into()),
    };
    shown(entry, text)
}

fn shown(entry: &Entry, text: String) -> String {
    if entry.secret {
        DatabaseUrl::new(text).redacted()
    } else {
        text
    }
}

/// One line that names the setting, where its value came from, the value and what is wrong.
pub(super) fn problem(declared: &Declared, origin: Origin, value: &str, reason: &str) -> String {
    let from = match origin {
        Origin::File(name) => format!("from {name}"),
        Origin::Environment => format!("from {}", declared.env),
        Origin::Code => declared.env.to_string(),
    };
    format!("{} ({from}) = {value:?}: {reason}", declared.key)
}

/// The sections in declaration order.
fn sections() -> impl Iterator<Item = &'static str> {
    let mut seen: Vec<&str> = Vec::new();
    ENTRIES.iter().filter_map(move |entry| {
        let section = split(entry.declared.key).0;
        (!seen.contains(&section)).then(|| {
            seen.push(section);
            section
        })
    })
}

/// `"hub.queue-capacity"` → `("hub", "queue-capacity")`; every declared key has one dot.
fn split(key: &str) -> (&str, &str) {
    key.split_once('.').unwrap_or(("", key))
}
