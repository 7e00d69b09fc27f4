//! `thor users` and `thor accounts import` as an operator runs them (the real binary, as a child
//! process), against real SQLite files and the real PostgreSQL: every command, its errors, and
//! that a refused command changes nothing; a disabled user refused at sign-in with their open
//! socket closed; and a desk built from an empty database, whose traders sign in and see their
//! own imported positions over REST and the socket.

use crate::common;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use thor_server::config::DatabaseUrl;
use tokio_tungstenite::tungstenite::Message;

/// How `thor` is pointed at the database under test: the data directory's SQLite file, or a
/// PostgreSQL URL.
#[derive(Clone)]
struct Thor {
    data_dir: PathBuf,
    database_url: Option<DatabaseUrl>,
}

impl Thor {
    fn sqlite(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            database_url: None,
        }
    }

    /// Runs `thor ARGS` with `input` on standard input, as an operator would on the server's
    /// machine, with no demo users seeded.
    fn run(&self, args: &[&str], input: &str) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_thor"));
        command
            .args(args)
            .env("THOR_DATA_DIR", &self.data_dir)
            .env("THOR_SEED_DEMO_USERS", "false")
            .env("RUST_LOG", "info")
            .env_remove("THOR_CONFIG")
            .env_remove("REDIS_URL")
            .current_dir(&self.data_dir);
        match &self.database_url {
            Some(url) => command.env("DATABASE_URL", url.expose()),
            None => command.env_remove("DATABASE_URL"),
        };
        Run(common::run_with_input(&mut command, input.as_bytes()))
    }

    /// [`Thor::run`] off the async workers (a test server may be running on them).
    async fn run_async(&self, args: &[&str], input: &str) -> Run {
        let thor = self.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let input = input.to_string();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            thor.run(&args, &input)
        })
        .await
        .expect("joins")
    }

    /// `users list --json`.
    fn users(&self) -> Vec<Value> {
        let list = self.run(&["users", "list", "--json"], "").ok();
        serde_json::from_str(&list.stdout()).expect("users JSON")
    }

    fn user(&self, name: &str) -> Value {
        self.users()
            .into_iter()
            .find(|u| u["username"] == name)
            .unwrap_or_else(|| panic!("no user {name}"))
    }

    /// `users audit --json`, oldest first.
    fn audit(&self) -> Vec<Value> {
        let audit = self
            .run(&["users", "audit", "--limit", "100", "--json"], "")
            .ok();
        let mut entries: Vec<Value> = serde_json::from_str(&audit.stdout()).expect("audit JSON");
        entries.reverse();
        entries
    }

    /// Writes `text` to `name` in the data directory and imports it.
    fn import(&self, name: &str, text: &str) -> Run {
        let path = self.data_dir.join(name);
        std::fs::write(&path, text).expect("file written");
        self.run(
            &["accounts", "import", path.to_str().expect("utf-8 path")],
            "",
        )
    }
}

struct Run(Output);

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    fn code(&self) -> Option<i32> {
        self.0.status.code()
    }

    /// Asserts success; itself, for its output.
    fn ok(self) -> Self {
        assert_eq!(self.code(), Some(0), "{}{}", self.stdout(), self.stderr());
        self
    }

    /// Asserts exit code `code` and that standard error says each of `says`.
    fn fails(self, code: i32, says: &[&str]) -> Self {
        let err = self.stderr();
        assert_eq!(self.code(), Some(code), "{}{err}", self.stdout());
        for said in says {
            assert!(err.contains(said), "expected {said:?} in: {err}");
        }
        self
    }
}

/// The OS user running the tests, as `id -un` says (what the audit trail must record).
fn os_user() -> String {
    let output = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

const ACCOUNTS_TOML: &str = r#"
[[account]]
trader = "alice"
number = "DESK-0001"
cash = 250000.00
holdings = [
  { symbol = "SPY", quantity = 100, entry_price = 595.00 },
  { symbol = "AAPL", quantity = 50, entry_price = 228.10 },
]

[[account]]
trader = "bob"
number = "DESK-0002"
cash = 125000
holdings = [{ symbol = "QQQ", quantity = 200, entry_price = 510.00 }]
"#;

/// Every `thor users` and `thor accounts import` command and its errors, on the database `thor`
/// points at; each refused command is shown to have changed nothing.
fn every_command_and_its_errors(thor: &Thor) {
    let listed = thor.run(&["users", "list"], "").ok();
    assert!(
        listed.stdout().contains("no users yet"),
        "{}",
        listed.stdout()
    );

    let added = thor
        .run(
            &["users", "add", "boss", "--role", "operator"],
            "boss-long-password\n",
        )
        .ok();
    assert!(
        added.stderr().contains("added boss (operator)"),
        "{}",
        added.stderr()
    );
    // The log line says who did it.
    assert!(
        added.stderr().contains("added a user"),
        "{}",
        added.stderr()
    );
    assert!(added.stderr().contains(&os_user()), "{}", added.stderr());
    let alice = thor
        .run(
            &["users", "add", "alice", "--role", "trader"],
            "alice-long-password\n",
        )
        .ok();
    assert!(
        alice.stderr().contains("thor accounts import"),
        "a trader is told how to get an account: {}",
        alice.stderr()
    );
    thor.run(
        &["users", "add", "bob", "--role", "trader"],
        "bob-long-password\r\n",
    )
    .ok();

    // Bad input: a clear error, exit 1 (2 for what the command line itself refuses).
    thor.run(
        &["users", "add", "alice", "--role", "trader"],
        "another-long-pass\n",
    )
    .fails(1, &["already a user named \"alice\""]);
    thor.run(
        &["users", "add", "Carol", "--role", "trader"],
        "carol-long-password\n",
    )
    .fails(1, &["not a valid username", "lower-case letters"]);
    thor.run(&["users", "add", "carol", "--role", "trader"], "\n")
        .fails(1, &["the password is empty", "at least 12 characters"]);
    thor.run(&["users", "add", "carol", "--role", "trader"], "")
        .fails(1, &["the password is empty"]);
    thor.run(&["users", "add", "carol", "--role", "trader"], "short\n")
        .fails(
            1,
            &["too weak (only 5 characters)", "at least 12 characters"],
        );
    thor.run(
        &["users", "add", "carol", "--role", "trader"],
        "zzzzzzzzzzzzzzzz\n",
    )
    .fails(1, &["one character repeated"]);
    thor.run(
        &["users", "add", "carol", "--role", "admin"],
        "carol-long-password\n",
    )
    .fails(2, &["invalid value 'admin'", "trader", "operator"]);
    thor.run(
        &["users", "add", "local-operator", "--role", "operator"],
        "x-long-password\n",
    )
    .fails(1, &["reserved"]);
    let names: Vec<String> = thor
        .users()
        .iter()
        .map(|u| u["username"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(
        names,
        ["alice", "bob", "boss"],
        "no refused add made a user"
    );

    // The table shows name, role, account, last sign-in and disabled.
    let table = thor.run(&["users", "list"], "").ok().stdout();
    for heading in ["user", "role", "account", "last sign-in (UTC)", "disabled"] {
        assert!(table.contains(heading), "{table}");
    }
    let row = table
        .lines()
        .find(|l| l.contains("alice"))
        .unwrap_or_else(|| panic!("{table}"));
    for cell in ["trader", "—", "never", "no"] {
        assert!(row.contains(cell), "{row}");
    }

    // Disable and enable.
    thor.run(&["users", "disable", "alice"], "").ok();
    assert_eq!(thor.user("alice")["disabled"], true);
    assert!(
        thor.run(&["users", "list"], "")
            .ok()
            .stdout()
            .lines()
            .any(|l| l.contains("alice") && l.contains("yes"))
    );
    let again = thor.run(&["users", "disable", "alice"], "").ok();
    assert!(
        again.stderr().contains("already disabled"),
        "{}",
        again.stderr()
    );
    thor.run(&["users", "disable", "mallory"], "")
        .fails(1, &["no user named \"mallory\""]);
    thor.run(&["users", "enable", "mallory"], "")
        .fails(1, &["no user named \"mallory\""]);
    thor.run(&["users", "enable", "alice"], "").ok();
    assert_eq!(thor.user("alice")["disabled"], false);

    // Roles.
    let promoted = thor.run(&["users", "set-role", "bob", "operator"], "").ok();
    assert!(
        promoted.stderr().contains("bob is now an operator"),
        "{}",
        promoted.stderr()
    );
    assert_eq!(thor.user("bob")["role"], "operator");
    thor.run(&["users", "set-role", "bob", "trader"], "").ok();
    let same = thor.run(&["users", "set-role", "bob", "trader"], "").ok();
    assert!(
        same.stderr().contains("already a trader"),
        "{}",
        same.stderr()
    );
    thor.run(&["users", "set-role", "bob", "admin"], "")
        .fails(2, &["invalid value 'admin'"]);
    thor.run(&["users", "set-role", "mallory", "trader"], "")
        .fails(1, &["no user named \"mallory\""]);
    assert_eq!(thor.user("bob")["role"], "trader");

    // Passwords.
    thor.run(&["users", "set-password", "bob"], "bob\n")
        .fails(1, &["too weak", "at least 12 characters"]);
    thor.run(&["users", "set-password", "bob"], "bob-new-long-password\n")
        .ok();
    thor.run(
        &["users", "set-password", "mallory"],
        "whatever-long-pass\n",
    )
    .fails(1, &["no user named \"mallory\""]);

    // Accounts: refused files change nothing.
    let operator_file = "[[account]]\ntrader = \"boss\"\nnumber = \"DESK-9\"\ncash = 1\n";
    thor.import("boss.toml", operator_file).fails(
        1,
        &[
            "boss is an operator; only traders have paper accounts",
            "nothing was imported",
        ],
    );
    let unknown = "trader,account,cash,symbol,quantity,entry_price\n\
                   alice,DESK-0001,250000.00,SPY,100,595.00\n\
                   carol,DESK-0003,1000,,,\n";
    thor.import("unknown.csv", unknown).fails(
        1,
        &[
            "line 3: there is no user named \"carol\"",
            "thor users add carol",
        ],
    );
    thor.import(
        "bad.toml",
        "[[account]]\ntrader = \"alice\"\nnumber = \"DESK-1\"\ncash = 12.345\n",
    )
    .fails(
        1,
        &["account 1 (alice): cash 12.345 has more than two decimals"],
    );
    thor.import("accounts.txt", ACCOUNTS_TOML)
        .fails(1, &["must end in .toml or .csv"]);
    let missing = thor.data_dir.join("missing.toml");
    thor.run(
        &["accounts", "import", missing.to_str().expect("utf-8")],
        "",
    )
    .fails(1, &["cannot read"]);
    assert!(
        thor.users().iter().all(|u| u["account"].is_null()),
        "no refused import made an account"
    );

    let imported = thor.import("accounts.toml", ACCOUNTS_TOML).ok();
    assert!(
        imported.stderr().contains("imported 2 paper accounts"),
        "{}",
        imported.stderr()
    );
    assert_eq!(thor.user("alice")["account"], "DESK-0001");
    assert_eq!(thor.user("bob")["account"], "DESK-0002");
    assert!(thor.user("boss")["account"].is_null());

    // Two traders never share an account, and an account keeps its number.
    let shared = "trader,account,cash,symbol,quantity,entry_price\n\
                  bob,DESK-0001,100,,,\n";
    thor.import("shared.csv", shared)
        .fails(1, &["account DESK-0001 belongs to alice"]);
    let renumbered = "trader,account,cash,symbol,quantity,entry_price\n\
                      alice,DESK-7777,100,,,\n";
    thor.import("renumbered.csv", renumbered)
        .fails(1, &["alice already has account DESK-0001"]);
    // Re-importing an account replaces its cash and holdings.
    let replaced = "trader,account,cash,symbol,quantity,entry_price\n\
                    alice,DESK-0001,300000,MSFT,10,445.00\n";
    let again = thor.import("replaced.csv", replaced).ok();
    assert!(again.stderr().contains("replaced"), "{}", again.stderr());

    // Every change, and only the changes, with who made it.
    let audit = thor.audit();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| {
            (
                e["action"].as_str().expect("action"),
                e["username"].as_str().expect("username"),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("add", "boss"),
            ("add", "alice"),
            ("add", "bob"),
            ("disable", "alice"),
            ("enable", "alice"),
            ("set-role", "bob"),
            ("set-role", "bob"),
            ("set-password", "bob"),
            ("import-account", "alice"),
            ("import-account", "bob"),
            ("import-account", "alice"),
        ]
    );
    let me = os_user();
    assert!(audit.iter().all(|e| e["actor"] == me.as_str()), "{audit:?}");
    assert_eq!(audit[5]["detail"], "trader → operator");
    assert_eq!(
        audit[10]["detail"],
        "DESK-0001 (replaced): cash 300000.00; holdings: MSFT 10 @ 445.00"
    );
    let table = thor.run(&["users", "audit"], "").ok().stdout();
    assert!(
        table.contains("who (OS user)") && table.contains(&me),
        "{table}"
    );
}

#[test]
fn every_command_and_its_errors_on_sqlite() {
    let data = tempfile::tempdir().expect("temp dir");
    every_command_and_its_errors(&Thor::sqlite(data.path()));
}

#[tokio::test]
async fn every_command_and_its_errors_on_postgres() {
    if !common::postgres_may_run("every_command_and_its_errors_on_postgres").await {
        return;
    }
    let database = common::TempDatabase::create().await;
    let data = tempfile::tempdir().expect("temp dir");
    let thor = Thor {
        data_dir: data.path().to_path_buf(),
        database_url: Some(database.url()),
    };
    tokio::task::spawn_blocking(move || every_command_and_its_errors(&thor))
        .await
        .expect("the scenario passes");
    database.drop_it().await;
}

async fn login(addr: std::net::SocketAddr, username: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{addr}/api/auth/login"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("request")
}

fn cookie_of(response: &reqwest::Response) -> String {
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii cookie");
    cookie.split(';').next().expect("a pair").to_string()
}

async fn get(app: &common::TestApp, path: &str, cookie: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.expect("JSON"))
}

/// The first socket message of `kind`, within 5 s.
async fn first_of(socket: &mut common::Socket, kind: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).expect("JSON frame");
                    if message["type"] == kind {
                        return message;
                    }
                }
                Some(Ok(_)) => continue,
                other => panic!("the socket ended before a {kind} message: {other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind} message within 5 s"))
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in_and_their_open_socket_closes() {
    // No Redis: the running server learns of it from the database, by its sweep.
    let app = common::spawn_app().await;
    let thor = Thor::sqlite(app.data_dir.path());
    let cookie = common::sign_in(&app, "demo").await;
    let bystander = common::sign_in(&app, "demo2").await;
    let mut socket = common::ws_connect(&app, &cookie, "").await;
    let mut other = common::ws_connect(&app, &bystander, "").await;
    first_of(&mut socket, "heartbeat").await;
    first_of(&mut other, "heartbeat").await;
    assert_eq!(get(&app, "/api/auth/me", &cookie).await.0, StatusCode::OK);

    thor.run_async(&["users", "disable", "demo"], "").await.ok();
    assert_eq!(
        common::close_code_within(&mut socket, Duration::from_millis(1500)).await,
        Some(app::protocol::close_code::SESSION_ENDED)
    );
    let (status, body) = get(&app, "/api/positions", &cookie).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // The right password now says the user is disabled; a wrong one says nothing more.
    let refused = login(app.addr, "demo", "demo").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.headers().get("set-cookie").is_none());
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "user_disabled");
    assert_eq!(
        body["error"]["message"],
        "the user demo is disabled; ask an operator to enable it again"
    );
    let wrong = login(app.addr, "demo", "not-the-password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    // The sign-in page's form goes back to the page, saying why.
    let form = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(app.url("/api/auth/login"))
        .form(&[("username", "demo"), ("password", "demo")])
        .send()
        .await
        .expect("request");
    assert_eq!(form.status(), StatusCode::SEE_OTHER);
    assert_eq!(form.headers()["location"], "/login?error=disabled");
    assert!(form.headers().get("set-cookie").is_none());

    // The other trader noticed nothing.
    assert_eq!(
        get(&app, "/api/auth/me", &bystander).await.0,
        StatusCode::OK
    );
    first_of(&mut other, "heartbeat").await;

    thor.run_async(&["users", "enable", "demo"], "").await.ok();
    assert_eq!(
        login(app.addr, "demo", "demo").await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

/// A session made by a sign-in that raced the disabling is refused all the same.
#[tokio::test]
async fn a_disabled_users_leftover_session_is_refused() {
    let app = common::spawn_app().await;
    let thor = Thor::sqlite(app.data_dir.path());
    thor.run_async(&["users", "disable", "demo"], "").await.ok();
    let user_id: i64 = match &app.db {
        thor_server::db::Database::Sqlite(pool) => {
            sqlx::query_scalar("SELECT id FROM users WHERE username = 'demo'")
                .fetch_one(pool)
                .await
                .expect("demo's id")
        }
        thor_server::db::Database::Postgres(_) => panic!("the test server uses SQLite"),
    };
    let token = thor_server::auth::create_session(&app.db, user_id)
        .await
        .expect("a session row");
    let cookie = format!("thor_session={token}");
    assert_eq!(
        get(&app, "/api/auth/me", &cookie).await.0,
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

/// Off loopback, disabled demo users no longer stop the start: only those who may sign in count.
#[tokio::test]
async fn off_loopback_disabled_demo_users_do_not_stop_the_start() {
    let data = common::spawn_app().await.stop().await;
    let thor = Thor::sqlite(data.path());
    let mut settings = common::test_settings(data.path());
    settings.site.addr = "0.0.0.0:0".parse().expect("addr");
    for name in ["demo", "demo2"] {
        thor.run_async(&["users", "disable", name], "").await.ok();
    }
    let refused = thor_server::Application::build(settings.clone(), common::SITE).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("while ops still use the demo passwords"),
        "{message}"
    );
    thor.run_async(&["users", "disable", "ops"], "").await.ok();
    let app = thor_server::Application::build(settings, common::SITE)
        .await
        .expect("no demo user may sign in: it starts");
    drop(app);
}

/// The README's walkthrough: an empty database, no demo users, an operator and two traders
/// added and their accounts imported by the CLI; each trader signs in and gets their own
/// positions over REST and the socket.
async fn a_desk_from_an_empty_database(database_url: Option<DatabaseUrl>) {
    let app = common::spawn_app_with(|s| {
        s.security.seed_demo_users = false;
        s.storage.database_url = database_url.clone();
    })
    .await;
    let thor = Thor {
        data_dir: app.data_dir.path().to_path_buf(),
        database_url,
    };
    assert_eq!(
        login(app.addr, "demo", "demo").await.status(),
        StatusCode::UNAUTHORIZED,
        "no demo users"
    );
    for (name, role, password) in [
        ("boss", "operator", "boss-long-password"),
        ("alice", "trader", "alice-long-password"),
        ("bob", "trader", "bob-long-password"),
    ] {
        thor.run_async(
            &["users", "add", name, "--role", role],
            &format!("{password}\n"),
        )
        .await
        .ok();
    }
    let path = app.data_dir.path().join("desk.toml");
    std::fs::write(&path, ACCOUNTS_TOML).expect("file written");
    thor.run_async(&["accounts", "import", path.to_str().expect("utf-8")], "")
        .await
        .ok();
    // A running server values new accounts on its next round; this test does not wait 10 s.
    app.jobs.run_all_once().await;

    let alice = login(app.addr, "alice", "alice-long-password").await;
    assert_eq!(alice.status(), StatusCode::OK);
    let alice = cookie_of(&alice);
    let bob = cookie_of(&login(app.addr, "bob", "bob-long-password").await);

    let (status, positions) = get(&app, "/api/positions", &alice).await;
    assert_eq!(status, StatusCode::OK, "{positions}");
    let held: Vec<(String, i64, f64)> = positions["data"]["positions"]
        .as_array()
        .expect("positions")
        .iter()
        .map(|p| {
            (
                p["symbol"].as_str().expect("symbol").to_string(),
                p["quantity"].as_i64().expect("quantity"),
                p["entry_price"].as_f64().expect("entry price"),
            )
        })
        .collect();
    assert_eq!(
        held,
        [
            ("AAPL".to_string(), 50, 228.1),
            ("SPY".to_string(), 100, 595.0)
        ]
    );
    let (_, balance) = get(&app, "/api/account/balance", &alice).await;
    assert_eq!(balance["data"]["account_number"], "DESK-0001");
    assert_eq!(balance["data"]["cash"], 250_000.0);
    let (_, bobs) = get(&app, "/api/positions", &bob).await;
    assert_eq!(bobs["data"]["positions"][0]["symbol"], "QQQ");
    assert_eq!(bobs["data"]["positions"].as_array().map(Vec::len), Some(1));
    assert_ne!(bobs["data"]["account_id"], positions["data"]["account_id"]);

    // The socket brings alice her positions, and only hers.
    let mut socket = common::ws_connect(&app, &alice, "").await;
    let pushed = first_of(&mut socket, "positions").await;
    assert_eq!(
        pushed["data"]["account_id"],
        positions["data"]["account_id"]
    );
    let symbols: Vec<&str> = pushed["data"]["positions"]
        .as_array()
        .expect("positions")
        .iter()
        .map(|p| p["symbol"].as_str().expect("symbol"))
        .collect();
    assert_eq!(symbols, ["AAPL", "SPY"]);
    app.jobs.run_all_once().await;
    let next = first_of(&mut socket, "positions").await;
    assert_eq!(next["data"]["account_id"], positions["data"]["account_id"]);

    // The operator signs in and has no account; the list shows who signed in.
    let boss = login(app.addr, "boss", "boss-long-password").await;
    assert_eq!(boss.status(), StatusCode::OK);
    let boss = cookie_of(&boss);
    assert_eq!(get(&app, "/api/auth/me", &boss).await.1["role"], "operator");
    assert_eq!(
        get(&app, "/api/positions", &boss).await.0,
        StatusCode::NOT_FOUND
    );
    let users = tokio::task::spawn_blocking({
        let thor = thor.clone();
        move || thor.users()
    })
    .await
    .expect("joins");
    for user in &users {
        assert!(
            user["last_sign_in"].as_str().is_some(),
            "{} signed in: {user}",
            user["username"]
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_desk_from_an_empty_sqlite_database() {
    a_desk_from_an_empty_database(None).await;
}

#[tokio::test]
async fn a_desk_from_an_empty_postgres_database() {
    if !common::postgres_may_run("a_desk_from_an_empty_postgres_database").await {
        return;
    }
    let database = common::TempDatabase::create().await;
    a_desk_from_an_empty_database(Some(database.url())).await;
    database.drop_it().await;
}

/// A database made before users could be disabled (migrations 0001–0004) keeps its users and
/// sessions through the new migration.
async fn an_older_database_keeps_working(url: DatabaseUrl, migrations: &str) {
    // Applies the first four migrations only, as an older thor would have.
    let old = tempfile::tempdir().expect("temp dir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(migrations);
    for entry in std::fs::read_dir(&source).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        if name < "0005" {
            std::fs::copy(&path, old.path().join(name)).expect("copied");
        }
    }
    let migrator = sqlx::migrate::Migrator::new(old.path())
        .await
        .expect("the old migrations");
    assert_eq!(migrator.iter().count(), 4);
    let hash = thor_server::auth::hash_password("an-old-password").expect("hash");
    let token = "ab".repeat(32);
    let far = thor_server::clock::now_ms() + 3_600_000;
    macro_rules! old_thor {
        ($pool:expr) => {{
            let pool = $pool;
            migrator.run(&pool).await.expect("old migrations run");
            sqlx::query(
                "INSERT INTO users (username, password_hash, role, default_password, created_at) \
                 VALUES ('olga', $1, 'trader', $2, 0)",
            )
            .bind(&hash)
            .bind(false)
            .execute(&pool)
            .await
            .expect("an old user");
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
                 SELECT $1, id, 0, $2 FROM users WHERE username = 'olga'",
            )
            .bind(thor_server::auth::token_hash(&token))
            .bind(far)
            .execute(&pool)
            .await
            .expect("an old session");
            pool.close().await;
        }};
    }
    if url.expose().starts_with("sqlite") {
        let options: sqlx::sqlite::SqliteConnectOptions = url.expose().parse().expect("sqlite URL");
        old_thor!(
            sqlx::SqlitePool::connect_with(options.create_if_missing(true))
                .await
                .expect("open")
        );
    } else {
        old_thor!(sqlx::PgPool::connect(url.expose()).await.expect("open"));
    }

    let data = tempfile::tempdir().expect("temp dir");
    let mut settings = common::test_settings(data.path());
    settings.storage.database_url = Some(url);
    let app = common::start(settings, data).await;
    let cookie = format!("thor_session={token}");
    let (status, me) = get(&app, "/api/auth/me", &cookie).await;
    assert_eq!(status, StatusCode::OK, "the old session still works: {me}");
    assert_eq!(me["username"], "olga");
    assert_eq!(
        login(app.addr, "olga", "an-old-password").await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn an_older_sqlite_database_keeps_working() {
    let data = tempfile::tempdir().expect("temp dir");
    an_older_database_keeps_working(
        common::sqlite_url(data.path()),
        "../server/migrations/sqlite",
    )
    .await;
}

#[tokio::test]
async fn an_older_postgres_database_keeps_working() {
    if !common::postgres_may_run("an_older_postgres_database_keeps_working").await {
        return;
    }
    let database = common::TempDatabase::create().await;
    an_older_database_keeps_working(database.url(), "../server/migrations/postgres").await;
    database.drop_it().await;
}
