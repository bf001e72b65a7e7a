//! Preparing mail: render in the recipient's language and seal, ready for
//! the outbox, which stores it with the job that sends it in one transaction
//! (on its own, or inside the store call of the action that sends it).

use jiff::Timestamp;
use kiteline_core::crypto::FieldContext;
use kiteline_core::mail::OutboxMessage;
use kiteline_store::vault::Vault;
use kiteline_store::{Id, NewMail, Store, StoreError, new_id};
use kiteline_templates::Lang;
use kiteline_templates::mail::{MailKind, render};

/// Where an outbox message is sealed; the worker opens it with the same context.
pub fn outbox_context(id: &Id) -> FieldContext<'_> {
    FieldContext::new("outbox", "message", id.as_str())
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the message has a line break in a header field")]
    Header,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One message to someone.
#[derive(Clone, Copy, Debug)]
pub struct Recipient<'a> {
    pub address: &'a str,
    pub name: &'a str,
    pub lang: Lang,
}

/// Renders and seals one message for the outbox.
pub fn prepare(
    vault: &Vault,
    site: &str,
    to: Recipient<'_>,
    kind: &MailKind,
    now: Timestamp,
) -> Result<NewMail, QueueError> {
    let rendered = render(to.lang, to.name, kind, site);
    let message =
        OutboxMessage::new(to.address, to.name, &rendered.subject, &rendered.text).map_err(|_| QueueError::Header)?;
    let id = new_id(now);
    let sealed = vault.seal(outbox_context(&id), &message.encode());
    Ok(NewMail { id, sealed, job_id: new_id(now) })
}

/// Renders and queues one message on its own; returns the outbox id.
pub async fn queue(
    store: &Store,
    vault: &Vault,
    site: &str,
    to: Recipient<'_>,
    kind: &MailKind,
    now: Timestamp,
) -> Result<Id, QueueError> {
    let mail = prepare(vault, site, to, kind, now)?;
    let id = mail.id.clone();
    store.enqueue_mail(mail, now).await?;
    Ok(id)
}
