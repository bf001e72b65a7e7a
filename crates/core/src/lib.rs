//! Kiteline's domain: types and rules with no IO.
//!
//! Architecture invariant: nothing in this crate touches the network, the file
//! system, the clock or the operating system's random source. Callers pass the
//! current time and fresh random bytes in, which keeps every rule here
//! deterministic and testable, and means nothing here can fail for IO reasons.

pub mod account;
pub mod audit;
pub mod crypto;
pub mod id;
pub mod jobs;
pub mod mail;
pub mod net;
pub mod shifts;
pub mod totp;
pub mod volunteer;

pub use account::{EmailAddress, PasswordHash, PasswordProblem, Role, Stage, check_new_password};
pub use crypto::TokenDigest;
pub use id::Id;
