//! The outbox message: what is sealed into the outbox row and opened by the
//! worker that sends it. A length-prefixed encoding, so no field can spill
//! into another, and header fields are checked for line breaks on creation.

/// A message ready to send: one recipient, a subject, a plain-text body.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub to: String,
    pub to_name: String,
    pub subject: String,
    pub text: String,
}

impl std::fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutboxMessage(<redacted>)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("a header field contains a line break or control character")]
    HeaderInjection,
    #[error("the encoded message is malformed")]
    Malformed,
}

impl OutboxMessage {
    pub fn new(to: &str, to_name: &str, subject: &str, text: &str) -> Result<OutboxMessage, MessageError> {
        if [to, to_name, subject].iter().any(|h| h.chars().any(char::is_control)) {
            return Err(MessageError::HeaderInjection);
        }
        Ok(OutboxMessage { to: to.into(), to_name: to_name.into(), subject: subject.into(), text: text.into() })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = b"KLM1".to_vec();
        for field in [&self.to, &self.to_name, &self.subject, &self.text] {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<OutboxMessage, MessageError> {
        let mut rest = bytes.strip_prefix(b"KLM1").ok_or(MessageError::Malformed)?;
        let mut fields = Vec::with_capacity(4);
        for _ in 0..4 {
            let len = rest.get(..4).ok_or(MessageError::Malformed)?;
            let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
            let value = rest.get(4..4 + len).ok_or(MessageError::Malformed)?;
            fields.push(String::from_utf8(value.to_vec()).map_err(|_| MessageError::Malformed)?);
            rest = &rest[4 + len..];
        }
        if !rest.is_empty() {
            return Err(MessageError::Malformed);
        }
        let text = fields.pop().unwrap();
        let subject = fields.pop().unwrap();
        let to_name = fields.pop().unwrap();
        let to = fields.pop().unwrap();
        OutboxMessage::new(&to, &to_name, &subject, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(to in "[a-z@.]{0,30}", name in "[^\\p{Cc}]{0,30}", subject in "[^\\p{Cc}]{0,60}", text in any::<String>()) {
            let m = OutboxMessage::new(&to, &name, &subject, &text).unwrap();
            prop_assert_eq!(OutboxMessage::decode(&m.encode()).unwrap(), m);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = OutboxMessage::decode(&bytes);
        }
    }

    #[test]
    fn header_injection_and_truncation_are_refused() {
        assert_eq!(OutboxMessage::new("a@b.org\r\nBcc: x@y.org", "", "s", "t"), Err(MessageError::HeaderInjection));
        assert_eq!(OutboxMessage::new("a@b.org", "", "Hi\nBcc: x", "t"), Err(MessageError::HeaderInjection));
        let m = OutboxMessage::new("a@b.org", "Ana", "Hi", "body\nwith lines").unwrap().encode();
        assert_eq!(OutboxMessage::decode(&m[..m.len() - 1]), Err(MessageError::Malformed));
        let mut longer = m.clone();
        longer.push(0);
        assert_eq!(OutboxMessage::decode(&longer), Err(MessageError::Malformed));
    }
}
