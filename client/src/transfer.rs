//! File transfer, the client's wing of it: uploads on a dedicated unidirectional stream each,
//! downloads into a `.part` file that is hash-checked and then renamed. Both survive a lost
//! connection by resuming from the offset already transferred. File streams have a lower send
//! priority than chat streams, so messages never wait behind file bytes.
//!
//! # Layout
//! - `rules`: the decisions (resume offsets, which verdicts repeat an upload, how a
//!   stream's end becomes a download outcome, which failures are final), pure and tested.
//! - `upload` / `download`: the async jobs; a download receives through
//!   [`quicq_common::pump`].
//! - `registry`: `Transfers`, the running transfers and what their jobs share.
//! - `handle`, `error`, `meter`: the caller's handle, the error types, progress reports.

mod download;
mod error;
mod handle;
mod meter;
mod registry;
mod rules;
mod upload;

pub use download::default_download_dir;
pub use error::{DownloadError, TransferError};
pub use handle::{UploadHandle, Uploaded};
pub(crate) use registry::{Transfers, UploadSignal};

pub use crate::event::{TransferEvent, TransferKey};

pub(crate) use download::{fetch_pending, on_arrival, start as start_download};
pub(crate) use rules::{Arrival, arrival};
pub(crate) use upload::start as start_upload;
