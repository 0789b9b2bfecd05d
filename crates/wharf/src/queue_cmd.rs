//! `wharf queue ...`: what the outbound queue holds, and retrying or dropping entries.

use crate::cli::QueueCmd;
use anyhow::{Result, anyhow};
use wharf_store::Store;
use wharf_store::queue::{QueueEntry, QueueId, RecipientState};

fn parse_id(s: &str) -> Result<QueueId> {
    s.parse().map_err(|e: String| anyhow!(e))
}

fn when(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| unix.to_string())
}

fn sender(e: &QueueEntry) -> &str {
    if e.envelope.sender.is_empty() {
        "<>"
    } else {
        &e.envelope.sender
    }
}

/// The soonest attempt among pending recipients, and the newest error.
fn summary(e: &QueueEntry) -> (String, String) {
    let pending = e
        .recipients
        .iter()
        .filter(|r| r.state == RecipientState::Pending);
    let next = pending
        .map(|r| r.next_attempt)
        .min()
        .map(when)
        .unwrap_or_else(|| "-".into());
    let error = e
        .recipients
        .iter()
        .filter_map(|r| r.last_error.as_deref())
        .next_back()
        .unwrap_or("-")
        .to_string();
    (next, error)
}

pub async fn run(store: &dyn Store, cmd: QueueCmd) -> Result<()> {
    match cmd {
        QueueCmd::List => {
            let entries = store.queue_list().await?;
            // At a terminal: a header, and a word when there is nothing. Piped, stdout
            // holds only the entries (scripts read them), the empty notice goes to stderr.
            let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
            if entries.is_empty() {
                if tty {
                    println!("queue is empty");
                } else {
                    eprintln!("wharf: queue is empty");
                }
            } else if tty {
                println!("ID\tSENDER\tRECIPIENTS\tNEXT ATTEMPT\tLAST ERROR");
            }
            for e in entries {
                let rcpts: Vec<&str> = e
                    .recipients
                    .iter()
                    .map(|r| r.spec.address.as_str())
                    .collect();
                let (next, error) = summary(&e);
                println!(
                    "{}\t{}\t{}\tnext={}\terror={}",
                    e.id,
                    sender(&e),
                    rcpts.join(","),
                    next,
                    error
                );
            }
        }
        QueueCmd::Show { id } => {
            let id = parse_id(&id)?;
            let e = store
                .queue_get(id)
                .await?
                .ok_or_else(|| anyhow!("queued message {id} not found"))?;
            println!("id: {}", e.id);
            println!("queued: {}", when(e.created));
            println!("sender: {}", sender(&e));
            println!("size: {}", e.size);
            if let Some(envid) = &e.envelope.envid {
                println!("envid: {envid}");
            }
            if let Some(ret) = &e.envelope.ret {
                println!("ret: {ret}");
            }
            for r in &e.recipients {
                println!(
                    "recipient: {}\tstate={}\tattempts={}\tnext={}\terror={}",
                    r.spec.address,
                    r.state.as_str(),
                    r.attempts,
                    if r.state == RecipientState::Pending {
                        when(r.next_attempt)
                    } else {
                        "-".into()
                    },
                    r.last_error.as_deref().unwrap_or("-")
                );
            }
            let body = store.read_body(e.blob).await?;
            let end = wharf_store::mime::header_end(&body);
            println!();
            print!("{}", String::from_utf8_lossy(&body[..end]));
        }
        QueueCmd::Retry { id, all } => {
            let id = if all {
                None
            } else {
                id.as_deref().map(parse_id).transpose()?
            };
            let n = store.queue_retry(id).await?;
            println!("{n} recipient(s) due now");
        }
        QueueCmd::Delete { id } => store.queue_delete(parse_id(&id)?).await?,
    }
    Ok(())
}
