//! Named groups: the wing that creates and changes them. Its [`rules`] decide what is allowed
//! (pure); its [`requests`] run each change as one job on the store thread, where the stored
//! event, the membership the hub routes by, and the event's delivery change together.

pub mod requests;
pub mod rules;
