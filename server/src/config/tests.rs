use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

/// An environment of exactly these variables.
fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn refusal(file: Option<&str>, env: impl Fn(&str) -> Option<String>) -> String {
    let refused = Settings::from_layers(file, "Leptos.toml", env);
    format!("{:#}", refused.expect_err("refused"))
}

#[test]
fn defaults_serve_on_loopback_with_an_sqlite_file_in_data() {
    let settings = Settings::from_layers(None, "none", no_env).expect("defaults load");
    assert_eq!(settings.site.addr.to_string(), "127.0.0.1:3000");
    assert_eq!(settings.database_url().expose(), "sqlite://data/thor.db");
    assert_eq!(settings.hub.heartbeat_interval, Duration::from_secs(1));
    assert_eq!(settings.hub.heartbeat_report_every, 30);
    Settings::default()
        .validate()
        .expect("the defaults keep every rule");
}

#[test]
fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
    let file = r#"
        [site]
        addr = "127.0.0.1:4000"
        [storage]
        data-dir = "/var/lib/thor"
        [hub]
        heartbeat-interval-ms = 250
    "#;
    let from_file = Settings::from_layers(Some(file), "t", no_env).expect("file loads");
    assert_eq!(from_file.site.addr.to_string(), "127.0.0.1:4000");
    assert_eq!(
        from_file.database_url().expose(),
        "sqlite:///var/lib/thor/thor.db"
    );
    assert_eq!(from_file.hub.heartbeat_interval, Duration::from_millis(250));

    let env = env_of(&[
        ("LEPTOS_SITE_ADDR", "0.0.0.0:8080"),
        ("THOR_DATA_DIR", "/tmp/thor"),
    ]);
    let layered = Settings::from_layers(Some(file), "t", env).expect("layers load");
    assert_eq!(layered.site.addr.to_string(), "0.0.0.0:8080");
    assert_eq!(
        layered.database_url().expose(),
        "sqlite:///tmp/thor/thor.db"
    );

    let pg = env_of(&[("DATABASE_URL", "postgres://thor:secret@db:5432/thor")]);
    let with_pg = Settings::from_layers(Some(file), "t", pg).expect("pg loads");
    assert_eq!(
        with_pg.database_url().expose(),
        "postgres://thor:secret@db:5432/thor"
    );
}

#[test]
fn mistakes_in_the_file_are_refused_with_the_reason() {
    let typo = refusal(Some("[site]\nadress = \"x\"\n"), no_env);
    assert!(
        typo.contains("Leptos.toml") && typo.contains("adress"),
        "{typo}"
    );

    let bad_addr = refusal(Some("[site]\naddr = \"localhost\"\n"), no_env);
    assert!(
        bad_addr.contains("site.addr (from Leptos.toml) = \"localhost\""),
        "{bad_addr}"
    );

    let zero = refusal(Some("[hub]\nheartbeat-interval-ms = 0\n"), no_env);
    assert!(
        zero.contains("hub.heartbeat-interval-ms (from Leptos.toml) = \"0\": must be above zero"),
        "{zero}"
    );

    let syntax = refusal(Some("[hub\n"), no_env);
    assert!(syntax.contains("cannot parse Leptos.toml"), "{syntax}");
}

#[test]
fn unknown_keys_and_sections_are_refused_with_the_file_and_the_key() {
    let key = refusal(Some("[hub]\nqueue-capacty = 5\n"), no_env);
    assert!(
        key.contains("Leptos.toml: unknown key hub.queue-capacty")
            && key.contains("queue-capacity"),
        "{key}"
    );
    let section = refusal(Some("[hubb]\nqueue-capacity = 5\n"), no_env);
    assert!(
        section.contains("Leptos.toml: unknown section [hubb]"),
        "{section}"
    );
    let top_level = refusal(Some("addr = \"127.0.0.1:1\"\n"), no_env);
    assert!(top_level.contains("unknown section [addr]"), "{top_level}");
}

#[test]
fn database_passwords_never_print() {
    let url = DatabaseUrl::new("postgres://thor:hunter2@db:5432/thor");
    assert_eq!(url.redacted(), "postgres://thor:***@db:5432/thor");
    assert!(!format!("{url:?}").contains("hunter2"));
    assert_eq!(
        DatabaseUrl::new("sqlite://data/thor.db").redacted(),
        "sqlite://data/thor.db"
    );

    let settings = Settings::from_layers(
        None,
        "t",
        env_of(&[("REDIS_URL", "redis://:hunter2@cache:6379")]),
    )
    .expect("loads");
    assert!(!format!("{settings:?}").contains("hunter2"));

    let file = "[storage]\ndatabase-url = [\"postgres://thor:hunter2@db/thor\"]\n";
    let message = refusal(Some(file), no_env);
    assert!(
        message.contains("storage.database-url") && !message.contains("hunter2"),
        "{message}"
    );
}

#[test]
fn the_shipped_leptos_toml_is_valid() {
    let text = include_str!("../../../Leptos.toml");
    let settings = Settings::from_layers(Some(text), "Leptos.toml", no_env)
        .expect("the shipped Leptos.toml loads");
    assert_eq!(settings.site.addr.to_string(), "127.0.0.1:3000");
}

#[test]
fn settings_that_had_no_variable_now_have_one() {
    let env = env_of(&[
        ("THOR_HEARTBEAT_INTERVAL_MS", "250"),
        ("THOR_HEARTBEAT_REPORT_EVERY", "5"),
        ("THOR_MAX_FRAME_BYTES", "4096"),
        ("THOR_QUEUE_CAPACITY", "8"),
        ("THOR_REPLAY_CAPACITY", "64"),
        ("THOR_CLIENT_MESSAGES_PER_SECOND", "2"),
        ("THOR_CLIENT_BURST", "3"),
    ]);
    let file = "[hub]\nqueue-capacity = 512\n";
    let hub = Settings::from_layers(Some(file), "t", env)
        .expect("loads")
        .hub;
    assert_eq!(hub.heartbeat_interval, Duration::from_millis(250));
    assert_eq!(hub.heartbeat_report_every, 5);
    assert_eq!(hub.max_frame_bytes, 4096);
    assert_eq!(hub.queue_capacity, 8, "the environment wins over the file");
    assert_eq!(hub.replay_capacity, 64);
    assert_eq!(hub.client_messages_per_second, 2);
    assert_eq!(hub.client_burst, 3);
}

#[test]
fn every_leptos_variable_wins_over_the_file() {
    let file = r#"
        [site]
        addr = "127.0.0.1:4000"
        root = "site"
        pkg-dir = "p"
        output-name = "x"
        reload-port = 4001
        env = "DEV"
    "#;
    let env = env_of(&[
        ("LEPTOS_SITE_ADDR", "127.0.0.1:5000"),
        ("LEPTOS_SITE_ROOT", "target/site"),
        ("LEPTOS_SITE_PKG_DIR", "pkg"),
        ("LEPTOS_OUTPUT_NAME", "thor"),
        ("LEPTOS_RELOAD_PORT", "5001"),
        ("LEPTOS_ENV", "production"),
    ]);
    let site = Settings::from_layers(Some(file), "t", env)
        .expect("loads")
        .site;
    assert_eq!(site.addr.to_string(), "127.0.0.1:5000");
    assert_eq!(
        (site.root.as_str(), site.pkg_dir.as_str()),
        ("target/site", "pkg")
    );
    assert_eq!(site.output_name, "thor");
    assert_eq!(site.reload_port, 5001);
    assert_eq!(site.env, "PROD");
}

#[test]
fn a_broken_rule_names_the_variable_or_the_file_and_the_value() {
    let from_env = refusal(None, env_of(&[("THOR_QUEUE_CAPACITY", "0")]));
    assert_eq!(
        from_env,
        "hub.queue-capacity (from THOR_QUEUE_CAPACITY) = \"0\": must be above zero"
    );

    let probes = refusal(None, env_of(&[("THOR_PROBE_RATE", "5000")]));
    assert!(
        probes.contains("THOR_PROBE_RATE") && probes.contains("\"5000\""),
        "{probes}"
    );

    let mode = refusal(Some("[site]\nenv = \"staging\"\n"), no_env);
    assert_eq!(
        mode,
        "site.env (from Leptos.toml) = \"staging\": must be DEV or PROD"
    );

    let mut settings = Settings::default();
    settings.hub.lease_ttl = Duration::from_millis(100);
    settings.hub.redis_prefix = " ".into();
    let invalid = settings.validate().expect_err("two rules broken");
    assert_eq!(invalid.problems.len(), 2, "{invalid}");
    assert!(
        invalid.problems[0].starts_with("hub.redis-prefix (THOR_REDIS_PREFIX) = \" \""),
        "{invalid}"
    );
    assert!(
        invalid.problems[1].starts_with("hub.lease-ttl-ms (THOR_LEASE_TTL_MS) = \"100\""),
        "{invalid}"
    );
}

#[test]
fn a_value_of_the_wrong_type_names_the_variable_and_the_value() {
    let number = refusal(None, env_of(&[("THOR_MAX_CONNECTIONS", "lots")]));
    assert!(
        number.starts_with("hub.max-connections (from THOR_MAX_CONNECTIONS) = \"lots\""),
        "{number}"
    );
    let negative = refusal(Some("[hub]\nmax-connections = -1\n"), no_env);
    assert!(
        negative.contains("(from Leptos.toml) = \"-1\": must be a whole number"),
        "{negative}"
    );
    let port = refusal(None, env_of(&[("LEPTOS_RELOAD_PORT", "70000")]));
    assert!(port.contains("must be a port"), "{port}");
}

#[test]
fn booleans_take_the_usual_spellings_and_refuse_others() {
    for (text, expected) in [
        ("true", true),
        ("1", true),
        ("YES", true),
        ("on", true),
        ("false", false),
        ("0", false),
        ("no", false),
        ("Off", false),
    ] {
        let env = env_of(&[("THOR_EXCHANGE_HOURS", text)]);
        let settings = Settings::from_layers(Some("[market]\nexchange-hours = true\n"), "t", env);
        let hours = settings.expect("loads").market.exchange_hours;
        assert_eq!(hours, expected, "THOR_EXCHANGE_HOURS={text}");
    }

    let bad = refusal(None, env_of(&[("THOR_ALLOW_DEFAULT_PASSWORDS", "maybe")]));
    assert!(
        bad.contains("THOR_ALLOW_DEFAULT_PASSWORDS") && bad.contains("\"maybe\""),
        "{bad}"
    );
    let quoted = refusal(
        Some("[security]\nallow-default-passwords = \"yes\"\n"),
        no_env,
    );
    assert!(quoted.contains("must be true or false"), "{quoted}");
}

#[test]
fn blank_variables_are_ignored() {
    let env = env_of(&[("THOR_MARKET_SEED", "  "), ("LEPTOS_SITE_ADDR", "")]);
    let settings = Settings::from_layers(Some("[market]\nseed = 7\n"), "t", env).expect("loads");
    assert_eq!(settings.market.seed, 7);
    assert_eq!(settings.site.addr.to_string(), "127.0.0.1:3000");
}

#[test]
fn symbols_are_a_comma_separated_list_of_tickers() {
    let env = env_of(&[("THOR_SYMBOLS", "spy, qqq ,BRK.B")]);
    let settings = Settings::from_layers(None, "t", env).expect("loads");
    assert_eq!(settings.market.symbols, ["SPY", "QQQ", "BRK.B"]);

    let gap = refusal(None, env_of(&[("THOR_SYMBOLS", "SPY,,QQQ")]));
    assert!(
        gap.contains("THOR_SYMBOLS") && gap.contains("\"\" is not a ticker"),
        "{gap}"
    );
    let file = refusal(Some("[market]\nsymbols = \"SPY\"\n"), no_env);
    assert!(file.contains("must be a list of strings"), "{file}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let env = env_of(&[("THOR_CLIENT_BURST", "0"), ("THOR_LEASE_TTL_MS", "soon")]);
    let message = refusal(Some("[hub]\nmystery = 1\nreplay-capacity = 0\n"), env);
    assert!(
        message.starts_with("4 problems with the settings:"),
        "{message}"
    );
    for part in [
        "hub.mystery",
        "THOR_CLIENT_BURST",
        "THOR_LEASE_TTL_MS",
        "hub.replay-capacity (from Leptos.toml)",
    ] {
        assert!(message.contains(part), "{part} missing from {message}");
    }
}
