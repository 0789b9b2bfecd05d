//! Command-line interface. Directory commands work on the data directory directly, so
//! they work offline and beside a running server (SQLite serializes the writers).

use crate::config;
use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::io::BufRead;
use std::path::PathBuf;
use wharf_store::{Address, DomainName, Secret, SqliteStore, Store};

#[derive(Parser, Debug)]
#[command(
    name = "wharf",
    version,
    about = "Mail (SMTP, POP3, IMAP) and FTP server in one binary"
)]
pub struct Args {
    /// Configuration file (TOML). Without it, built-in dev defaults apply.
    #[arg(long, global = true, env = "WHARF_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

impl Args {
    /// `serve` logs at info; one-shot commands only say what went wrong.
    pub fn default_log_level(&self) -> &'static str {
        match self.command {
            // rustls warns when a client sends an IP address as SNI (openssl s_client,
            // some mail clients): the client's doing, nothing an operator can act on.
            Command::Serve => "info,rustls::msgs::handshake=error",
            _ => "warn",
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run every configured service until SIGTERM or SIGINT.
    Serve,
    /// Manage the mail domains this server receives for.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Manage user accounts (mail and FTP share them).
    #[command(subcommand)]
    User(UserCmd),
    /// Manage aliases (one address delivering to one or more others).
    #[command(subcommand)]
    Alias(AliasCmd),
    /// DKIM keys of local domains.
    #[command(subcommand)]
    Dkim(DkimCmd),
    /// Print the DNS records to publish for a local domain; --check looks them up.
    Dns {
        domain: String,
        /// Look each record up and report ok / missing / wrong; exit 0 only when the
        /// required ones (MX, SPF, DKIM, DMARC) are right.
        #[arg(long)]
        check: bool,
    },
    /// Inspect and steer the outbound queue.
    #[command(subcommand)]
    Queue(QueueCmd),
    /// Check the configuration and print the effective settings.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Import mail: an mbox file, a directory of mbox files, or a Maildir/Maildir++ tree
    /// (format detected). Re-running an interrupted import does not duplicate.
    Import {
        address: String,
        path: PathBuf,
        /// The mailbox a single mbox file goes into.
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
        /// Forget what earlier runs of this import recorded and import everything again.
        #[arg(long)]
        fresh: bool,
    },
    /// Export every mailbox of an account to a Maildir++ tree or to mbox files.
    Export {
        address: String,
        #[arg(long, value_enum)]
        format: crate::mailio::export::Format,
        path: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum DkimCmd {
    /// Print the DNS TXT records to publish for DOMAIN (keys are generated on first use).
    Show { domain: String },
}

#[derive(Subcommand, Debug)]
pub enum QueueCmd {
    /// One line per queued message: id, sender, recipients, next attempt, last error.
    List,
    /// Everything about one queued message, and its headers.
    Show { id: String },
    /// Try now: one message, or every message with --all.
    Retry {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Remove a message from the queue without delivering it (no bounce is sent).
    Delete { id: String },
}

#[derive(Subcommand, Debug)]
pub enum DomainCmd {
    /// Add a local domain.
    Add { domain: String },
    /// List local domains.
    List,
    /// Delete a local domain (refused while users or aliases use it).
    Del { domain: String },
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Add a user; the password is read from the first line of standard input.
    Add {
        address: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users with their quotas and usage.
    List,
    /// Delete a user with all their mail.
    Del { address: String },
    /// Change a user's password (read from standard input).
    Passwd {
        address: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's storage quota; omit a limit to remove it.
    Quota {
        address: String,
        /// Most bytes of mail the user may keep.
        #[arg(long)]
        bytes: Option<u64>,
        /// Most messages the user may keep.
        #[arg(long)]
        messages: Option<u64>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AliasCmd {
    /// Add an alias delivering to one or more targets (adds to an existing alias).
    Add {
        alias: String,
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// List aliases and their targets.
    List,
    /// Delete an alias.
    Del { alias: String },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Validate the configuration; print the effective hostname, data directory and listeners.
    Check,
}

fn parse_address(s: &str) -> Result<Address> {
    Address::parse(s).map_err(|e| anyhow::anyhow!("bad address: {e}"))
}

fn parse_domain(s: &str) -> Result<DomainName> {
    DomainName::parse(s).map_err(|e| anyhow::anyhow!("bad domain {s:?}: {e}"))
}

async fn account(store: &dyn Store, address: &str) -> Result<wharf_store::Account> {
    let address = parse_address(address)?;
    store
        .user_get(&address)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user {address}"))
}

fn read_password(flag: bool) -> Result<Secret> {
    if !flag {
        bail!("give the password on standard input with --password-stdin");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let pw = line.strip_suffix('\n').unwrap_or(&line);
    let pw = pw.strip_suffix('\r').unwrap_or(pw);
    if pw.is_empty() {
        bail!("empty password on standard input");
    }
    Ok(Secret::new(pw))
}

/// The DKIM TXT records of a local domain, generating its keys on first use.
async fn dkim_records(
    store: &dyn Store,
    config: &config::Config,
    domain: &str,
) -> Result<Vec<wharf_mailauth::DnsRecord>> {
    let domain = parse_domain(domain)?;
    if !store.is_local_domain(&domain).await? {
        bail!("{domain} is not a local domain (add it with `wharf domain add {domain}`)");
    }
    let signer = crate::mailauth::signer(&config.data_dir, &config.mailauth);
    let name = domain.to_string();
    tokio::task::spawn_blocking(move || signer.dns_records(&name))
        .await
        .context("generating DKIM keys")?
        .map_err(|e| anyhow::anyhow!("DKIM keys for {domain}: {e}"))
}

pub async fn run(args: Args) -> Result<()> {
    let config = config::load(args.config.as_deref())?;
    if let Command::Serve = args.command {
        return crate::serve::serve(config).await;
    }
    if let Command::Config(ConfigCmd::Check) = args.command {
        return config::check(&config);
    }
    let creates = matches!(args.command, Command::Domain(DomainCmd::Add { .. }));
    config::ensure_data_dir(&config, creates)?;
    let store = SqliteStore::open(&config.data_dir)
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    match args.command {
        Command::Serve | Command::Config(_) => unreachable!("handled above"),
        Command::Domain(DomainCmd::Add { domain }) => {
            store.domain_add(&parse_domain(&domain)?).await?;
        }
        Command::Domain(DomainCmd::List) => {
            for d in store.domain_list().await? {
                println!("{d}");
            }
        }
        Command::Domain(DomainCmd::Del { domain }) => {
            store.domain_del(&parse_domain(&domain)?).await?;
        }
        Command::User(UserCmd::Add {
            address,
            password_stdin,
        }) => {
            let address = parse_address(&address)?;
            let password = read_password(password_stdin)?;
            store.user_add(&address, &password).await?;
        }
        Command::User(UserCmd::List) => {
            for a in store.user_list().await? {
                let usage = store.usage(a.id).await?;
                let limit = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
                println!(
                    "{}\tmessages={}/{}\tbytes={}/{}",
                    a.address,
                    usage.messages,
                    limit(a.quota_messages),
                    usage.bytes,
                    limit(a.quota_bytes)
                );
            }
        }
        Command::User(UserCmd::Del { address }) => {
            store.user_del(&parse_address(&address)?).await?;
        }
        Command::User(UserCmd::Passwd {
            address,
            password_stdin,
        }) => {
            let address = parse_address(&address)?;
            let password = read_password(password_stdin)?;
            store.user_passwd(&address, &password).await?;
        }
        Command::User(UserCmd::Quota {
            address,
            bytes,
            messages,
        }) => {
            store
                .user_set_quota(&parse_address(&address)?, bytes, messages)
                .await?;
        }
        Command::Alias(AliasCmd::Add { alias, targets }) => {
            let alias = parse_address(&alias)?;
            let targets = targets
                .iter()
                .map(|t| parse_address(t))
                .collect::<Result<Vec<_>>>()?;
            store.alias_add(&alias, &targets).await?;
        }
        Command::Alias(AliasCmd::List) => {
            for (alias, targets) in store.alias_list().await? {
                let t: Vec<String> = targets.iter().map(ToString::to_string).collect();
                println!("{alias}\t{}", t.join(", "));
            }
        }
        Command::Alias(AliasCmd::Del { alias }) => {
            store.alias_del(&parse_address(&alias)?).await?;
        }
        Command::Queue(cmd) => crate::queue_cmd::run(&*store, cmd).await?,
        Command::Import {
            address,
            path,
            mailbox,
            fresh,
        } => {
            let account = account(&*store, &address).await?;
            let opts = crate::mailio::import::ImportOptions { mailbox, fresh };
            let summary =
                crate::mailio::import::run(&*store, &config.data_dir, &account, &path, &opts)
                    .await?;
            summary.print();
        }
        Command::Export {
            address,
            format,
            path,
        } => {
            let account = account(&*store, &address).await?;
            crate::mailio::export::run(&*store, &account, format, &path)
                .await?
                .print();
        }
        Command::Dkim(DkimCmd::Show { domain }) => {
            for r in dkim_records(&*store, &config, &domain).await? {
                println!("{}", r.zone_line());
            }
        }
        Command::Dns { domain, check } => {
            let dkim = dkim_records(&*store, &config, &domain).await?;
            let domain = parse_domain(&domain)?.to_string();
            crate::dns_cmd::run(&config, &domain, &dkim, check).await?;
        }
    }
    Ok(())
}
