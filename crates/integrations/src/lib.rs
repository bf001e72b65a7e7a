//! Kiteline's adapters to the outside world, each behind a small trait so a
//! provider can be swapped and tests can talk real protocols to local servers.
//!
//! Today: mail delivery ([`mail`]). Telephony and payments join later.

pub mod mail;
