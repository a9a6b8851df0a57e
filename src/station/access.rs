//! Who may use the console, and what each one sees (`--users`).
//!
//! - Users are listed in a file the station's administrator keeps, one line each:
//!   `<name> <sites> <argon2 hash>`, where `<sites>` is `*` (every site, for the district) or a
//!   comma-separated list of the sites (the boxes' `site`) the user sees: a commune's officers see
//!   their commune. `anttd station-passwd` makes the hash.
//! - Logging in checks the password against its Argon2 hash and gives a session: a random
//!   token in an `HttpOnly`, `SameSite=Strict` cookie (so no other site's page can make a
//!   logged-in browser ask for footage), valid for [`SESSION`] after the last request. Sessions
//!   live in memory: a restarted station asks everyone to log in again.
//! - Without `--users` there are no logins: everyone who reaches the address sees everything, and
//!   the station listens on loopback behind a proxy that does the logging in (docs/station.md).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// How long a session lasts without a request.
pub const SESSION: Duration = Duration::from_secs(12 * 3600);

/// The sites a user sees.
#[derive(Debug, Clone, PartialEq)]
pub enum Sites {
    All,
    Only(Vec<String>),
}

/// The person a request is made for: their name and the sites they see.
#[derive(Debug, Clone, PartialEq)]
pub struct Viewer {
    /// Empty without `--users`.
    pub name: String,
    pub sites: Sites,
}

impl Viewer {
    /// Everyone, when the station has no logins.
    pub fn anyone() -> Self {
        Self { name: String::new(), sites: Sites::All }
    }

    pub fn sees(&self, site: &str) -> bool {
        match &self.sites {
            Sites::All => true,
            Sites::Only(s) => s.iter().any(|x| x == site),
        }
    }

    /// The sites to limit a search to; None: all.
    pub fn only(&self) -> Option<&[String]> {
        match &self.sites {
            Sites::All => None,
            Sites::Only(s) => Some(s),
        }
    }
}

struct User {
    sites: Sites,
    hash: String,
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes): a fraction of a second per login.
fn argon2() -> argon2::Argon2<'static> {
    argon2::Argon2::default()
}

/// The PHC string of `password` with a fresh random salt, for the users file.
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness for the salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(argon2().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("hashing: {e}"))?.to_string())
}

pub struct Access {
    users: HashMap<String, User>,
    sessions: Mutex<HashMap<String, (String, Instant)>>,
}

impl Access {
    /// Reads the users file, naming the line of any mistake.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut users = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let at = format!("{}:{}", path.display(), n + 1);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(name), Some(sites), Some(hash), None) = (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                bail!(
                    "{at}: expected `<name> <sites> <hash>`, e.g. `lan ward-7 $argon2id$…` (sites: * or a comma-separated list)"
                );
            };
            PasswordHash::new(hash).map_err(|e| {
                anyhow::anyhow!("{at}: {name}: not a password hash ({e}); make one with `anttd station-passwd`")
            })?;
            let sites = if sites == "*" {
                Sites::All
            } else {
                Sites::Only(sites.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect())
            };
            if users.insert(name.to_string(), User { sites, hash: hash.to_string() }).is_some() {
                bail!("{at}: {name} is listed twice");
            }
        }
        if users.is_empty() {
            bail!("{}: no user: nobody could log in", path.display());
        }
        Ok(Self { users, sessions: Mutex::new(HashMap::new()) })
    }

    /// Checks a password; a new session's token when it is right. Slow on purpose (Argon2):
    /// call it off the async threads.
    pub fn login(&self, name: &str, password: &str) -> Option<String> {
        let user = self.users.get(name)?;
        let hash = PasswordHash::new(&user.hash).ok()?;
        argon2().verify_password(password.as_bytes(), &hash).ok()?;
        let mut token = [0u8; 32];
        getrandom::fill(&mut token).ok()?;
        let token: String = token.iter().map(|b| format!("{b:02x}")).collect();
        let mut sessions = self.sessions.lock().ok()?;
        let now = Instant::now();
        sessions.retain(|_, (_, last)| now.duration_since(*last) < SESSION);
        sessions.insert(token.clone(), (name.to_string(), now));
        Some(token)
    }

    /// The viewer of a session, which is kept alive by the use.
    pub fn viewer(&self, token: &str) -> Option<Viewer> {
        let mut sessions = self.sessions.lock().ok()?;
        let now = Instant::now();
        let (name, last) = sessions.get_mut(token)?;
        if now.duration_since(*last) >= SESSION {
            sessions.remove(token);
            return None;
        }
        *last = now;
        let name = name.clone();
        let user = self.users.get(&name)?;
        Some(Viewer { name, sites: user.sites.clone() })
    }

    pub fn logout(&self, token: &str) {
        if let Ok(mut s) = self.sessions.lock() {
            s.remove(token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(text: &str) -> Result<Access> {
        let dir = tempfile::tempdir().expect("temp dir");
        let f = dir.path().join("users");
        std::fs::write(&f, text).expect("write");
        Access::load(&f)
    }

    #[test]
    fn a_user_logs_in_with_the_right_password_only_and_sees_their_sites() {
        let hash = hash_password("s3cret").expect("hash");
        let a = users(&format!("# the duty room\nlan ward-7,ward-9 {hash}\nchief * {hash}\n")).expect("users");
        assert_eq!(a.login("lan", "wrong"), None);
        assert_eq!(a.login("nobody", "s3cret"), None);
        let token = a.login("lan", "s3cret").expect("logged in");
        let v = a.viewer(&token).expect("a session");
        assert_eq!(v.name, "lan");
        assert!(v.sees("ward-7") && v.sees("ward-9") && !v.sees("ward-1"));
        assert_eq!(v.only(), Some(&["ward-7".to_string(), "ward-9".to_string()][..]));
        let chief = a.viewer(&a.login("chief", "s3cret").expect("chief")).expect("session");
        assert!(chief.sees("ward-1") && chief.only().is_none());
        a.logout(&token);
        assert_eq!(a.viewer(&token), None);
        assert_eq!(a.viewer("not-a-token"), None);
    }

    #[test]
    fn mistakes_in_the_users_file_name_their_line() {
        let hash = hash_password("x").expect("hash");
        let err = users(&format!("lan ward-7 {hash}\nbinh ward-7\n")).err().expect("refused").to_string();
        assert!(err.ends_with(":2: expected `<name> <sites> <hash>`, e.g. `lan ward-7 $argon2id$…` (sites: * or a comma-separated list)"), "{err}");
        let err = users("lan ward-7 plaintext\n").err().expect("refused").to_string();
        assert!(err.contains(":1: lan: not a password hash"), "{err}");
        let err = users(&format!("lan ward-7 {hash}\nlan ward-9 {hash}\n")).err().expect("refused").to_string();
        assert!(err.contains(":2: lan is listed twice"), "{err}");
        let err = users("# nobody\n").err().expect("refused").to_string();
        assert!(err.ends_with("no user: nobody could log in"), "{err}");
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_their_salt() {
        assert_ne!(hash_password("same").expect("hash"), hash_password("same").expect("hash"));
    }
}
