//! `wharf.toml`: the configuration file, environment overrides, and validation.
//!
//! Loading order: built-in defaults, then the file (`--config PATH` or `WHARF_CONFIG`),
//! then `WHARF_<SECTION>_<KEY>` environment variables (`WHARF_<KEY>` for top-level keys).
//! Unknown keys and bad values are refused with one line naming the key: a typo never
//! silently falls back to a default.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Name used in greetings, `Received:` fields and Message-IDs.
    pub hostname: String,
    /// Where the store keeps its database, message bodies, files and TLS material.
    pub data_dir: PathBuf,
    /// What `serve` logs (`info`, `warn`, `debug`, or a directive such as
    /// `info,wharf_smtp=debug`); `WHARF_LOG` wins over it. Reloaded on SIGHUP.
    pub log_level: Option<String>,
    pub listen: Listen,
    pub tls: Tls,
    pub limits: Limits,
    /// `[smtp]`: the mail exchanger (see the README for its keys).
    pub smtp: wharf_smtp::Config,
    /// `[submission]`: the submission listeners (AUTH, relay for authenticated users).
    pub submission: wharf_smtp::SubmissionConfig,
    /// `[outbound]`: the queue's delivery to other servers.
    pub outbound: wharf_smtp::OutboundConfig,
    /// `[dns]`: resolvers for MX routing and mail authentication.
    pub dns: wharf_smtp::DnsConfig,
    /// `[mailauth]`: DKIM signing, SPF/DKIM/DMARC checks, DNSBL.
    pub mailauth: wharf_mailauth::Config,
    /// `[pop3]`: POP3 and POP3S.
    pub pop3: wharf_pop3::Config,
    /// `[imap]`: IMAP and IMAPS.
    pub imap: wharf_imap::Config,
    /// `[ftp]`: FTP and FTPS.
    pub ftp: wharf_ftp::Config,
}

/// `[listen]`: addresses per service, each a list of `"ip:port"`. A service whose key is
/// missing is off (when the file has a `[listen]` section at all; without one, the
/// built-in dev listeners apply). Port 0 picks a free port; `serve` prints the real one.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    pub smtp: Option<Vec<String>>,
    pub submission: Option<Vec<String>>,
    pub submissions: Option<Vec<String>>,
    pub pop3: Option<Vec<String>>,
    pub pop3s: Option<Vec<String>>,
    pub imap: Option<Vec<String>>,
    pub imaps: Option<Vec<String>>,
    pub ftp: Option<Vec<String>>,
    /// Implicit-TLS FTP (TLS from the first byte); off unless configured.
    pub ftps: Option<Vec<String>>,
    pub http: Option<Vec<String>>,
    pub nntp: Option<Vec<String>>,
}

impl Default for Listen {
    /// The dev listeners: every service on 127.0.0.1 at an unprivileged port.
    fn default() -> Listen {
        let one = |port: u16| Some(vec![format!("127.0.0.1:{port}")]);
        Listen {
            smtp: one(2525),
            submission: one(2587),
            submissions: one(2465),
            pop3: one(2110),
            pop3s: one(2995),
            imap: one(2143),
            imaps: one(2993),
            ftp: one(2121),
            ftps: None,
            http: one(8080),
            nntp: None,
        }
    }
}

impl Listen {
    /// Every (service, addresses) pair, configured or not.
    pub fn entries(&self) -> [(&'static str, &Option<Vec<String>>); 11] {
        [
            ("smtp", &self.smtp),
            ("submission", &self.submission),
            ("submissions", &self.submissions),
            ("pop3", &self.pop3),
            ("pop3s", &self.pop3s),
            ("imap", &self.imap),
            ("imaps", &self.imaps),
            ("ftp", &self.ftp),
            ("ftps", &self.ftps),
            ("http", &self.http),
            ("nntp", &self.nntp),
        ]
    }
}

/// `[tls]`: the certificate for every TLS listener and STARTTLS. Absent: a self-signed
/// certificate for `hostname` is generated into `data_dir/tls` on first start.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM file with the certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM file with the private key.
    pub key: Option<PathBuf>,
}

/// `[limits]`: limits shared by every service (docs/limits.md lists every limit).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Concurrent connections from one IP address, over all services (0 = no limit).
    pub max_connections_per_ip: usize,
    /// Concurrent connections in all, over all services (0 = no limit); past it a client
    /// gets its protocol's busy reply.
    pub max_connections: usize,
    /// Seconds from connecting to logging in (IMAP, POP3, FTP, submission); the mail
    /// exchanger, which has no login, is bounded per command line instead.
    pub login_timeout_secs: u64,
    /// Seconds one command line may take from its first octet to its end; message data
    /// must arrive at 4 KiB per this many seconds at least (0 = no bound).
    pub line_timeout_secs: u64,
    /// Failed logins from one client (IPv4 address or IPv6 /64), over every protocol,
    /// within `auth_failure_window_secs`, after which its logins are refused.
    pub max_auth_failures_per_ip: u32,
    /// Failed logins for one account name (from anywhere) within the window, after
    /// which that account's logins are refused (submission).
    pub max_auth_failures_per_account: u32,
    /// Length of the failed-login windows, in seconds.
    pub auth_failure_window_secs: u64,
    /// Delay added to each failed login's answer, in milliseconds; grows with each
    /// failure from the same client (capped at 5 s).
    pub auth_failure_delay_ms: u64,
    /// Clients the login throttle remembers at most (the oldest windows go first).
    pub max_tracked_clients: usize,
    /// Password checks (Argon2id) running at once, over every protocol (0 = one per CPU).
    pub max_concurrent_logins: usize,
    /// Seconds `serve` waits for sessions to finish after SIGTERM/SIGINT.
    pub shutdown_grace_secs: u64,
    /// Seconds a successful password check is remembered, so that the next login with
    /// the same password skips Argon2id (0 = every login runs it).
    pub auth_cache_secs: u64,
    /// Octets the file system holding `data_dir` keeps free: below it new mail (SMTP
    /// `452 4.3.1`, IMAP APPEND `NO [LIMIT]`) and uploads (FTP `452`) are refused while
    /// reads and deletes go on. Absent: 1% of the file system, at most 100 MiB
    /// (`wharf_store::default_min_free`); 0 = no reserve.
    pub min_free_space: Option<u64>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections_per_ip: 64,
            max_connections: 4096,
            login_timeout_secs: 60,
            line_timeout_secs: 180,
            max_auth_failures_per_ip: 10,
            max_auth_failures_per_account: 20,
            auth_failure_window_secs: 300,
            auth_failure_delay_ms: 1000,
            max_tracked_clients: 100_000,
            max_concurrent_logins: 0,
            shutdown_grace_secs: 30,
            auth_cache_secs: wharf_store::DEFAULT_AUTH_CACHE_SECS,
            min_free_space: None,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            hostname: default_hostname(),
            data_dir: PathBuf::from("wharf-data"),
            log_level: None,
            listen: Listen::default(),
            tls: Tls::default(),
            limits: Limits::default(),
            smtp: wharf_smtp::Config::default(),
            submission: wharf_smtp::SubmissionConfig::default(),
            outbound: wharf_smtp::OutboundConfig::default(),
            dns: wharf_smtp::DnsConfig::default(),
            mailauth: wharf_mailauth::Config::default(),
            pop3: wharf_pop3::Config::default(),
            imap: wharf_imap::Config::default(),
            ftp: wharf_ftp::Config::default(),
        }
    }
}

fn default_hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
        .unwrap_or_else(|| "localhost".to_string())
}

/// Top-level keys and sections, for mapping `WHARF_*` variables onto the file's shape.
/// Every section of [`Config`] (a test checks the README's sections against it).
const SECTIONS: &[&str] = &[
    "listen",
    "tls",
    "limits",
    "smtp",
    "submission",
    "outbound",
    "dns",
    "mailauth",
    "pop3",
    "imap",
    "ftp",
];
const TOP_KEYS: &[&str] = &["hostname", "data_dir", "log_level"];

/// The file the configuration was loaded from, for reloading it on SIGHUP.
static LOADED_FROM: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

/// Loads the configuration from an optional file and the process environment.
pub fn load(path: Option<&Path>) -> Result<Config> {
    let _ = LOADED_FROM.set(path.map(Path::to_path_buf));
    let vars: Vec<(String, String)> = std::env::vars().collect();
    load_with_env(path, &vars)
}

/// Loads the configuration again from the same file and environment (SIGHUP).
pub fn reload() -> Result<Config> {
    let path = LOADED_FROM.get().cloned().flatten();
    let vars: Vec<(String, String)> = std::env::vars().collect();
    load_with_env(path.as_deref(), &vars)
}

/// Like [`load`], with the environment given (for tests).
pub fn load_with_env(path: Option<&Path>, env: &[(String, String)]) -> Result<Config> {
    let mut table = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading config file {}", p.display()))?;
            text.parse::<toml::Table>().map_err(|e| {
                anyhow::anyhow!("{}: {}", p.display(), one_line_toml_error(&text, &e))
            })?
        }
        None => toml::Table::new(),
    };
    // Paths written in the file are relative to the file's directory, not to the cwd.
    let file_paths: Vec<&str> = ["data_dir", "tls.cert", "tls.key"]
        .into_iter()
        .filter(|k| match k.split_once('.') {
            Some((s, k)) => table
                .get(s)
                .and_then(toml::Value::as_table)
                .is_some_and(|t| t.contains_key(k)),
            None => table.contains_key(*k),
        })
        .collect();
    apply_env(&mut table, env)?;
    let file_paths: Vec<&str> = file_paths
        .into_iter()
        .filter(|k| {
            let var = format!("WHARF_{}", k.replace('.', "_").to_ascii_uppercase());
            !env.iter().any(|(n, _)| *n == var)
        })
        .collect();
    for line in apply_aliases(&mut table)? {
        eprintln!("wharf: {line}");
    }
    // A file with no [listen] at all gets the dev listeners; a [listen] section lists
    // exactly the services to run.
    let has_listen = table.contains_key("listen");
    let origin = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "environment".into());
    let mut config: Config =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            // A value that came from the environment is reported against its variable.
            let var = format!("WHARF_{}", key.replace('.', "_").to_ascii_uppercase());
            match env.iter().find(|(n, _)| *n == var) {
                Some((_, v)) => anyhow::anyhow!(
                    "environment variable {var}={v:?} (key `{key}`): {}",
                    e.inner()
                ),
                None => anyhow::anyhow!("{origin}: key `{key}`: {}", e.inner()),
            }
        })?;
    if has_listen {
        // Absent keys are off; `Listen`'s field defaults are None already, but the
        // struct-level default would otherwise fill in the dev listeners.
    } else {
        config.listen = Listen::default();
    }
    if let Some(p) = path {
        let base = std::path::absolute(p)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let resolve = |v: &mut PathBuf| {
            if v.is_relative() {
                *v = base.join(&*v);
            }
        };
        for k in file_paths {
            match k {
                "data_dir" => resolve(&mut config.data_dir),
                "tls.cert" => config.tls.cert.iter_mut().for_each(resolve),
                _ => config.tls.key.iter_mut().for_each(resolve),
            }
        }
    }
    validate(&config)?;
    Ok(config)
}

/// `wharf config check`: the configuration is valid (it loaded), and what `serve` will
/// need is there: the certificate and key readable and matching, `data_dir` writable,
/// every listen address bindable. Prints the effective settings; problems are one
/// line on stderr and a failure.
pub fn check(config: &Config) -> Result<()> {
    println!("hostname = {}", config.hostname);
    println!("data_dir = {}", config.data_dir.display());
    for (service, addrs) in config.listen.entries() {
        match addrs {
            Some(a) => println!("listen.{service} = {a:?}"),
            None => println!("listen.{service} = off"),
        }
    }
    let mut problems = Vec::new();
    // TLS.
    match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => {
            println!("tls = {} with {}", cert.display(), key.display());
            if let Err(e) = wharf_net::tls::check_files(cert, key) {
                problems.push(format!("tls: {e}"));
            }
        }
        _ => {
            let dir = config.data_dir.join("tls");
            let (cert, key) = (
                dir.join("self-signed-cert.pem"),
                dir.join("self-signed-key.pem"),
            );
            if cert.exists() {
                println!("tls = self-signed, {}", cert.display());
                if let Err(e) = wharf_net::tls::check_files(&cert, &key) {
                    problems.push(format!("tls: {e}"));
                }
            } else {
                println!(
                    "tls = self-signed, generated into {} by serve",
                    dir.display()
                );
            }
        }
    }
    // data_dir: writable, or creatable by serve.
    let dir = &config.data_dir;
    if dir.is_dir() {
        let probe = dir.join(format!(".config-check-{}", std::process::id()));
        match std::fs::write(&probe, b"") {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(e) => problems.push(format!("data_dir {}: not writable: {e}", dir.display())),
        }
    } else if dir.exists() {
        problems.push(format!("data_dir {}: not a directory", dir.display()));
    } else {
        println!("data_dir does not exist yet: serve will create it");
    }
    // Listeners: each address can be bound now (a running server holds its own).
    let mut any = false;
    for (service, addrs) in config.listen.entries() {
        for a in addrs.iter().flatten() {
            any = true;
            if let Err(e) = std::net::TcpListener::bind(a) {
                problems.push(format!("listen.{service}: cannot listen on {a}: {e}"));
            }
        }
    }
    if !any {
        eprintln!("wharf: warning: [listen] lists no address: nothing will listen");
    }
    println!();
    println!("# every setting in effect");
    println!("log_level = {:?}", config.log_level);
    println!("[limits]\n{:#?}", config.limits);
    println!("[smtp]\n{:#?}", config.smtp);
    println!("[submission]\n{:#?}", config.submission);
    println!("[outbound]\n{:#?}", config.outbound);
    println!("[dns]\n{:#?}", config.dns);
    println!("[mailauth]\n{:#?}", config.mailauth);
    println!("[pop3]\n{:#?}", config.pop3);
    println!("[imap]\n{:#?}", config.imap);
    println!("[ftp]\n{:#?}", config.ftp);
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// Checks that `data_dir` exists before a command uses the store. Only `serve` and
/// `domain add` (`create`) make a missing one, and say so on stderr; every other command
/// refuses, so that a command run in the wrong directory never works on a new, empty
/// store.
pub fn ensure_data_dir(config: &Config, create: bool) -> Result<()> {
    let dir = &config.data_dir;
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        bail!("data_dir {} is not a directory", dir.display());
    }
    if !create {
        bail!(
            "data_dir {} does not exist (give --config PATH or WHARF_DATA_DIR; `wharf serve` or `wharf domain add` create it)",
            dir.display()
        );
    }
    eprintln!("wharf: creating data directory {}", dir.display());
    std::fs::create_dir_all(dir).with_context(|| format!("creating data_dir {}", dir.display()))
}

/// Deprecated keys: (section, old key, section, new key). Each still works, moved to its
/// new place before the file is read, with one warning line at start.
const ALIASES: &[(&str, &str, &str, &str)] = &[
    ("smtp", "max_line_len", "smtp", "max_line_length"),
    ("smtp", "max_data_line_len", "smtp", "max_data_line_length"),
    ("smtp", "max_errors", "smtp", "max_bad_commands"),
    (
        "imap",
        "max_unauthenticated_commands",
        "imap",
        "max_commands_before_auth",
    ),
    ("imap", "login_timeout_secs", "limits", "login_timeout_secs"),
    (
        "submission",
        "max_auth_failures_per_ip",
        "limits",
        "max_auth_failures_per_ip",
    ),
    (
        "submission",
        "max_auth_failures_per_account",
        "limits",
        "max_auth_failures_per_account",
    ),
    (
        "submission",
        "auth_failure_window_secs",
        "limits",
        "auth_failure_window_secs",
    ),
    (
        "submission",
        "auth_failure_delay_ms",
        "limits",
        "auth_failure_delay_ms",
    ),
    (
        "pop3",
        "max_auth_failures_per_ip",
        "limits",
        "max_auth_failures_per_ip",
    ),
    (
        "pop3",
        "auth_failure_window_secs",
        "limits",
        "auth_failure_window_secs",
    ),
    (
        "pop3",
        "auth_failure_delay_ms",
        "limits",
        "auth_failure_delay_ms",
    ),
    (
        "ftp",
        "max_login_failures",
        "limits",
        "max_auth_failures_per_ip",
    ),
];

/// Moves deprecated keys to their new names; returns one warning line per key moved.
/// A key given under both names is refused (which one was meant is unclear), unless the
/// values agree.
fn apply_aliases(table: &mut toml::Table) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    for (section, old, new_section, new) in ALIASES {
        let value = match table.get_mut(*section) {
            Some(toml::Value::Table(t)) => t.remove(*old),
            _ => None,
        };
        let Some(value) = value else { continue };
        let entry = table
            .entry(new_section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(target) = entry else {
            bail!("config key `{new_section}` must be a section");
        };
        match target.get(*new) {
            Some(existing) if *existing != value => bail!(
                "key `{section}.{old}` is a deprecated name of `{new_section}.{new}`, and both are set differently; keep `{new_section}.{new}`"
            ),
            _ => {
                target.insert(new.to_string(), value);
            }
        }
        warnings.push(format!(
            "config key `{section}.{old}` is deprecated; use `{new_section}.{new}` (docs/limits.md)"
        ));
    }
    Ok(warnings)
}

/// Turns a TOML syntax error into one line with its line number.
fn one_line_toml_error(text: &str, e: &toml::de::Error) -> String {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    match line {
        Some(l) => format!("line {l}: {}", e.message()),
        None => e.message().to_string(),
    }
}

/// Applies `WHARF_<SECTION>_<KEY>` / `WHARF_<KEY>` variables onto the table.
fn apply_env(table: &mut toml::Table, env: &[(String, String)]) -> Result<()> {
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("WHARF_") else {
            continue;
        };
        if rest == "CONFIG" || rest == "LOG" {
            continue;
        }
        let lower = rest.to_ascii_lowercase();
        let parsed = env_value(value);
        if TOP_KEYS.contains(&lower.as_str()) {
            table.insert(lower, parsed);
            continue;
        }
        // The longest section that prefixes the name (a section named like the start
        // of another never takes its variables).
        let Some(section) = SECTIONS
            .iter()
            .filter(|s| lower.starts_with(&format!("{s}_")))
            .max_by_key(|s| s.len())
        else {
            bail!(
                "environment variable {name}: no such setting (expected WHARF_<SECTION>_<KEY> with a section of {SECTIONS:?}, or WHARF_HOSTNAME / WHARF_DATA_DIR / WHARF_LOG_LEVEL)"
            );
        };
        let key = lower[section.len() + 1..].to_string();
        let entry = table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(sect) = entry else {
            bail!("config key `{section}` must be a section");
        };
        // Listener lists may be given as comma-separated addresses.
        let parsed = if *section == "listen" {
            match parsed {
                toml::Value::String(s) => toml::Value::Array(
                    s.split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(|a| toml::Value::String(a.to_string()))
                        .collect(),
                ),
                other => other,
            }
        } else {
            parsed
        };
        sect.insert(key, parsed);
    }
    Ok(())
}

/// An environment value as TOML (numbers, booleans, arrays) or else a plain string.
fn env_value(value: &str) -> toml::Value {
    format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()))
}

fn validate(config: &Config) -> Result<()> {
    if let Some(l) = &config.log_level {
        tracing_subscriber::EnvFilter::try_new(l)
            .map_err(|e| anyhow::anyhow!("key `log_level`: {l:?}: {e}"))?;
    }
    if config.hostname.is_empty() {
        bail!("key `hostname`: must not be empty");
    }
    wharf_store::DomainName::parse(&config.hostname)
        .map_err(|e| anyhow::anyhow!("key `hostname`: {e}"))?;
    for (service, addrs) in config.listen.entries() {
        for a in addrs.iter().flatten() {
            a.parse::<SocketAddr>().map_err(|_| {
                anyhow::anyhow!("key `listen.{service}`: {a:?} is not an ip:port address")
            })?;
        }
    }
    config
        .outbound
        .validate()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    config.dns.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    config
        .mailauth
        .validate()
        .map_err(|e| anyhow::anyhow!("section `mailauth`: {e}"))?;
    if config.tls.cert.is_some() != config.tls.key.is_some() {
        bail!("key `tls.cert` / `tls.key`: give both or neither");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("wharf.toml");
        std::fs::write(&p, text).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        load_with_env(Some(&p), &env)
    }

    /// The ```toml block of the README's "Configuration" section.
    fn readme_config() -> String {
        let readme = include_str!("../../../README.md");
        let section = &readme[readme.find("## Configuration").expect("section")..];
        let start = section.find("```toml\n").expect("toml block") + "```toml\n".len();
        section[start..start + section[start..].find("```").expect("end")].to_string()
    }

    #[test]
    fn the_readme_shows_every_default_and_only_real_keys() {
        // As written, the README's block is the built-in configuration.
        let mut shown = load_str(&readme_config(), &[]).unwrap();
        shown.hostname = default_hostname();
        // A relative data_dir in a file is resolved against the file's directory.
        assert!(shown.data_dir.is_absolute() && shown.data_dir.ends_with("wharf-data"));
        shown.data_dir = PathBuf::from("wharf-data");
        assert_eq!(format!("{shown:?}"), format!("{:?}", Config::default()));
        // Its commented-out examples are real keys with valid values too.
        let uncommented: String = readme_config()
            .lines()
            .map(|l| {
                let t = l.trim_start_matches("# ");
                let is_key = l.starts_with("# ")
                    && t.split_once(" = ").is_some_and(|(k, _)| {
                        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    });
                if is_key { t } else { l }
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(uncommented.contains("\nsmarthost = "), "{uncommented}");
        let c = load_str(&uncommented, &[]).unwrap();
        assert!(c.outbound.smarthost.is_some() && c.tls.cert.is_some());
        // And every key the program has is in the README (as a key or a section).
        let debug = format!("{:?}", Config::default());
        for field in debug
            .split([' ', '{', '(', ','])
            .filter_map(|w| w.strip_suffix(':'))
        {
            // A field still named after its deprecated key (docs/limits.md lists both).
            if ALIASES.iter().any(|(_, old, _, _)| *old == field) {
                continue;
            }
            assert!(
                uncommented.contains(&format!("\n{field} = "))
                    || uncommented.starts_with(&format!("{field} = "))
                    || uncommented.contains(&format!("[{field}]")),
                "key `{field}` is not in the README's configuration section"
            );
        }
    }

    #[test]
    fn deprecated_names_still_work_and_warn() {
        let old = "[smtp]\nmax_line_len = 1000\nmax_errors = 7\n[imap]\nmax_unauthenticated_commands = 9\nlogin_timeout_secs = 11\n[pop3]\nmax_auth_failures_per_ip = 4\n[ftp]\nmax_login_failures = 4\n";
        let mut table: toml::Table = old.parse().unwrap();
        let warnings = apply_aliases(&mut table).unwrap();
        assert_eq!(warnings.len(), 6, "{warnings:?}");
        assert!(
            warnings[0].contains("`smtp.max_line_len` is deprecated; use `smtp.max_line_length`"),
            "{warnings:?}"
        );
        let c = load_str(old, &[]).unwrap();
        assert_eq!(c.smtp.max_line_len, 1000);
        assert_eq!(c.smtp.max_errors, 7);
        assert_eq!(c.imap.max_unauthenticated_commands, 9);
        assert_eq!(c.limits.login_timeout_secs, 11);
        assert_eq!(c.limits.max_auth_failures_per_ip, 4);
        // The same settings under their new names.
        let new = "[smtp]\nmax_line_length = 1000\nmax_bad_commands = 7\n[imap]\nmax_commands_before_auth = 9\n[limits]\nlogin_timeout_secs = 11\nmax_auth_failures_per_ip = 4\n";
        let mut table: toml::Table = new.parse().unwrap();
        assert!(apply_aliases(&mut table).unwrap().is_empty());
        let n = load_str(new, &[]).unwrap();
        assert_eq!(format!("{n:?}"), format!("{c:?}"));
        // Both names with different values: refused, naming both.
        let e = load_str("[smtp]\nmax_line_len = 1\nmax_line_length = 2\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("smtp.max_line_len") && e.contains("smtp.max_line_length"),
            "{e}"
        );
        // Environment variables take the old names too.
        let c = load_str("", &[("WHARF_SMTP_MAX_LINE_LEN", "900")]).unwrap();
        assert_eq!(c.smtp.max_line_len, 900);
    }

    #[test]
    fn no_file_gives_dev_defaults() {
        let c = load_with_env(None, &[]).unwrap();
        assert_eq!(c.listen.smtp, Some(vec!["127.0.0.1:2525".into()]));
        assert_eq!(c.listen.imaps, Some(vec!["127.0.0.1:2993".into()]));
        assert_eq!(c.data_dir, PathBuf::from("wharf-data"));
    }

    #[test]
    fn a_listen_section_lists_exactly_the_services_to_run() {
        let c = load_str(
            "hostname = \"mx.example.test\"\ndata_dir = \"/tmp/x\"\n[listen]\nsmtp = [\"127.0.0.1:25\"]\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.hostname, "mx.example.test");
        assert_eq!(c.listen.smtp, Some(vec!["127.0.0.1:25".into()]));
        assert_eq!(c.listen.pop3, None);
    }

    #[test]
    fn environment_overrides_file() {
        let c = load_str(
            "[listen]\nsmtp = [\"127.0.0.1:25\"]\n",
            &[
                ("WHARF_LISTEN_SMTP", "127.0.0.1:2600, 127.0.0.1:2601"),
                ("WHARF_HOSTNAME", "env.example.test"),
                ("WHARF_LIMITS_MAX_CONNECTIONS_PER_IP", "5"),
                ("WHARF_CONFIG", "ignored"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.listen.smtp,
            Some(vec!["127.0.0.1:2600".into(), "127.0.0.1:2601".into()])
        );
        assert_eq!(c.hostname, "env.example.test");
        assert_eq!(c.limits.max_connections_per_ip, 5);
    }

    #[test]
    fn typos_and_bad_values_name_the_key() {
        let e = load_str("[listen]\nsmpt = [\"127.0.0.1:25\"]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("smpt"), "{e}");
        let e = load_str("[listen]\nsmtp = [\"localhost\"]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen.smtp"), "{e}");
        let e = load_str("[limits]\nmax_connections_per_ip = \"many\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.max_connections_per_ip"), "{e}");
        let e = load_str("hostname = \n", &[]).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = load_str("", &[("WHARF_NOPE_X", "1")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("WHARF_NOPE_X"), "{e}");
        let e = load_str("[tls]\ncert = \"/a.pem\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("tls.key"), "{e}");
        assert!(!e.contains('\n'), "error is not one line: {e}");
    }
}
