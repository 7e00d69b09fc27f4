//! What a username and a password must be, checked where a user is added or a password set.

use anyhow::bail;

/// What a username may be, as the error for one that breaks it says.
pub const USERNAME_RULE: &str = "1 to 32 characters: lower-case letters, digits, '.', '_' and '-', \
     starting with a letter or a digit";

/// Refuses a username that breaks [`USERNAME_RULE`], and the name the local operator credential
/// acts under (the audit trail would not tell the two apart).
pub fn check_username(username: &str) -> anyhow::Result<()> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c);
    let starts_well = username
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if username.len() > 32 || !starts_well || !username.chars().all(allowed) {
        bail!("{username:?} is not a valid username: a username is {USERNAME_RULE}");
    }
    if username == crate::local_operator::NAME {
        bail!("{username:?} is reserved for the server's local operator credential");
    }
    Ok(())
}

/// What a password must be, as the error for one that breaks it says.
pub const PASSWORD_RULE: &str = "at least 12 characters (at most 256 bytes), not one character \
     repeated, and not the username";

/// Refuses an empty or weak password, saying what the rule is.
pub fn check_password_rule(username: &str, password: &str) -> anyhow::Result<()> {
    if password.is_empty() {
        bail!("the password is empty; a password needs {PASSWORD_RULE}");
    }
    let characters = password.chars().count();
    let weakness = if characters < 12 {
        format!("only {characters} characters")
    } else if password.len() > 256 {
        // Sign-in refuses longer fields before hashing them, so it could never be used.
        format!("{} bytes", password.len())
    } else if password.chars().all(|c| password.starts_with(c)) {
        "one character repeated".to_string()
    } else if password.eq_ignore_ascii_case(username) {
        "the username".to_string()
    } else {
        return Ok(());
    };
    bail!("the password is too weak ({weakness}); a password needs {PASSWORD_RULE}")
}
