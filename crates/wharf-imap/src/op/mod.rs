//! One handler per IMAP verb. Each file names its verb; UID forms live with their verb
//! (`fetch.rs` answers FETCH and UID FETCH), and twin verbs share a file:
//!
//! | file | verbs |
//! |---|---|
//! | `close.rs` | CLOSE, UNSELECT |
//! | `copy.rs` | COPY, MOVE (and UID forms) |
//! | `list.rs` | LIST, LSUB |
//! | `noop.rs` | NOOP, CHECK |
//! | `quota.rs` | GETQUOTA, GETQUOTAROOT (SETQUOTA is refused in `dispatch`) |
//! | `select.rs` | SELECT, EXAMINE |
//! | `subscribe.rs` | SUBSCRIBE, UNSUBSCRIBE |
//!
//! The state check happened before dispatch ([`crate::session::allowed_in`]); handlers
//! find their state's data by matching it.

pub mod append;
pub mod authenticate;
pub mod capability;
pub mod catenate;
pub mod close;
pub mod copy;
pub mod create;
pub mod delete;
pub mod enable;
pub mod expunge;
pub mod fetch;
pub mod id;
pub mod idle;
pub mod list;
pub mod login;
pub mod logout;
pub mod namespace;
pub mod noop;
pub mod quota;
pub mod rename;
pub mod search;
pub mod select;
pub mod sort;
pub mod starttls;
pub mod status;
pub mod store;
pub mod subscribe;
pub mod thread;

use crate::proto::{CommandBody, Tag};
use crate::session::selected::Selected;
use crate::session::{ImapError, OpResult, Outcome, Output, Session, State};
use wharf_store::Account;

/// Runs the handler of a command allowed in the current state.
pub async fn dispatch(
    s: &mut Session,
    tag: &Tag,
    body: CommandBody,
    io: &mut dyn Output,
) -> (OpResult, Outcome) {
    use CommandBody as C;
    let cont = |r: OpResult| (r, Outcome::Continue);
    match body {
        C::Capability => cont(capability::handle_capability(s)),
        C::Noop => cont(noop::handle_noop(s)),
        C::Logout => logout::handle_logout(s),
        C::Id(params) => cont(id::handle_id(s, params)),
        C::StartTls => starttls::handle_starttls(s),
        C::Login { user, password } => cont(login::handle_login(s, &user, &password).await),
        C::Authenticate { mechanism, initial } => {
            authenticate::handle_authenticate(s, tag, &mechanism, initial).await
        }
        C::Enable(caps) => cont(enable::handle_enable(s, &caps)),
        C::Select {
            mailbox,
            read_only,
            condstore,
            qresync,
        } => cont(select::handle_select(s, &mailbox, read_only, condstore, qresync).await),
        C::Create {
            mailbox,
            special_use,
        } => cont(create::handle_create(s, &mailbox, &special_use).await),
        C::Delete(m) => cont(delete::handle_delete(s, &m).await),
        C::Rename { from, to } => cont(rename::handle_rename(s, &from, &to).await),
        C::Subscribe(m) => cont(subscribe::handle_subscribe(s, &m, true).await),
        C::Unsubscribe(m) => cont(subscribe::handle_subscribe(s, &m, false).await),
        C::List {
            reference,
            patterns,
            options,
        } => cont(list::handle_list(s, &reference, &patterns, &options).await),
        C::Lsub { reference, pattern } => cont(list::handle_lsub(s, &reference, &pattern).await),
        C::Namespace => cont(namespace::handle_namespace(s)),
        C::Status { mailbox, items } => cont(status::handle_status(s, &mailbox, &items).await),
        C::Append { mailbox, messages } => cont(append::handle_append(s, &mailbox, messages).await),
        C::Idle => idle::handle_idle(s, tag).await,
        C::Close => cont(close::handle_close(s, true).await),
        C::Unselect => cont(close::handle_close(s, false).await),
        C::Expunge { uids } => cont(expunge::handle_expunge(s, uids.as_ref()).await),
        C::Search { uid, ret, key } => {
            cont(search::handle_search(s, tag, uid, ret, &key, io).await)
        }
        C::Fetch {
            uid,
            set,
            items,
            changed_since,
            vanished,
            partial,
        } => {
            let m = fetch::Modifiers {
                changed_since,
                vanished,
                partial,
            };
            cont(fetch::handle_fetch(s, uid, &set, &items, m, io).await)
        }
        C::Store {
            uid,
            set,
            op,
            silent,
            flags,
            unchanged_since,
        } => cont(store::handle_store(s, uid, &set, op, silent, &flags, unchanged_since).await),
        C::Copy { uid, set, mailbox } => {
            cont(copy::handle_copy(s, uid, &set, &mailbox, false).await)
        }
        C::Move { uid, set, mailbox } => {
            cont(copy::handle_copy(s, uid, &set, &mailbox, true).await)
        }
        C::Sort {
            uid,
            ret,
            criteria,
            key,
        } => cont(sort::handle_sort(s, tag, uid, ret, &criteria, &key).await),
        C::Thread {
            uid,
            algorithm,
            key,
        } => cont(thread::handle_thread(s, uid, algorithm, &key).await),
        C::GetQuota(root) => cont(quota::handle_getquota(s, &root).await),
        C::GetQuotaRoot(m) => cont(quota::handle_getquotaroot(s, &m).await),
        C::SetQuota => cont(Err(ImapError::no_code(
            "NOPERM",
            "Quotas are set by the operator",
        ))),
    }
}

/// The logged-in account (the state check guarantees one).
pub(crate) fn account(s: &Session) -> Result<Account, ImapError> {
    s.state
        .account()
        .cloned()
        .ok_or_else(|| ImapError::bad("Not logged in"))
}

/// The selected mailbox (the state check guarantees one).
pub(crate) fn selected(s: &mut Session) -> Result<&mut Selected, ImapError> {
    match &mut s.state {
        State::Selected { mailbox, .. } => Ok(mailbox),
        _ => Err(ImapError::bad("No mailbox selected")),
    }
}
