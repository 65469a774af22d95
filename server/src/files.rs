//! File transfer, the server's second wing: an upload streams into a spool file on disk while
//! downloads stream out of it, each at its own pace, so a slow recipient slows neither the
//! sender nor anyone else.
//!
//! - [`rules`]: every decision, as plain functions with table tests (header checks, new or
//!   resumed, quota, how an upload's end becomes its verdict, downloads, retention).
//! - [`uploads`]: receiving an upload and `upload_status`.
//! - [`downloads`]: `download`, `pending_files`, `file_done`.
//! - [`retention`]: the sweep that drops expired files and stalled uploads.
//! - [`spool`]: the files on disk and the progress downloads follow; [`registry`]: the uploads
//!   running now.

pub mod downloads;
pub mod registry;
pub mod retention;
pub mod rules;
pub mod spool;
pub mod uploads;
