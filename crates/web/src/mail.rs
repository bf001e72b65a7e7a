//! Queuing mail: render in the recipient's language, seal, and hand to the
//! outbox in one transaction with the job that sends it.

use jiff::Timestamp;
use kiteline_core::crypto::FieldContext;
use kiteline_core::mail::OutboxMessage;
use kiteline_store::vault::Vault;
use kiteline_store::{Id, Store, StoreError, new_id};
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

/// Renders and queues one message; returns the outbox id.
#[allow(clippy::too_many_arguments)]
pub async fn queue(
    store: &dyn Store,
    vault: &Vault,
    site: &str,
    to: &str,
    to_name: &str,
    lang: Lang,
    kind: &MailKind,
    now: Timestamp,
) -> Result<Id, QueueError> {
    let rendered = render(lang, to_name, kind, site);
    let message = OutboxMessage::new(to, to_name, &rendered.subject, &rendered.text).map_err(|_| QueueError::Header)?;
    let id = new_id(now);
    let sealed = vault.seal(outbox_context(&id), &message.encode());
    store.enqueue_mail(id.clone(), &sealed, new_id(now), now).await?;
    Ok(id)
}
