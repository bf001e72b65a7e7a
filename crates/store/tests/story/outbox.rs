//! The mail outbox: queued with its job, body dropped once sent.

use kiteline_store::testing::TestDb;
use kiteline_store::{NewMail, new_id};

use super::{seal, store, t, unseal};

story!(mail_is_queued_with_its_job_and_its_body_dropped_when_sent);

async fn mail_is_queued_with_its_job_and_its_body_dropped_when_sent(db: &TestDb) {
    let s = store(db);
    let (mail, job_id) = (new_id(t(0)), new_id(t(0)));
    s.enqueue_mail(NewMail { id: mail.clone(), sealed: seal(b"sealed bytes"), job_id: job_id.clone() }, t(0))
        .await
        .unwrap();
    assert_eq!(s.queued_mail(&mail).await.unwrap().as_ref().map(unseal).as_deref(), Some(&b"sealed bytes"[..]));
    let claimed = s.claim_job("w", t(0), t(60)).await.unwrap().unwrap();
    assert_eq!(claimed.id, job_id);
    assert_eq!(claimed.kind, kiteline_store::SEND_MAIL_JOB);
    assert_eq!(claimed.payload, format!("{{\"outbox_id\":\"{mail}\"}}"));
    s.mark_mail_sent(&mail, t(1)).await.unwrap();
    assert_eq!(s.queued_mail(&mail).await.unwrap(), None);

    let other = new_id(t(2));
    s.enqueue_mail(NewMail { id: other.clone(), sealed: seal(b"x"), job_id: new_id(t(2)) }, t(2)).await.unwrap();
    s.mark_mail_failed(&other).await.unwrap();
    assert_eq!(s.queued_mail(&other).await.unwrap(), None);
    // A duplicate job id rolls back the outbox row too.
    let again = new_id(t(3));
    assert!(s.enqueue_mail(NewMail { id: again.clone(), sealed: seal(b"y"), job_id }, t(3)).await.is_err());
    assert_eq!(s.queued_mail(&again).await.unwrap(), None);
}
