//! The second region of the design: an application there reads its local replica, writes the
//! primary (and announces on the key stream), and still reads its own writes. A **session**
//! remembers a digest of each write it made; a session read of such a key is served by the
//! replica once it holds what the session wrote, and by the primary until then. It imports
//! `aws`, `publish` (the writer) and `ops` (item equality, files replaced whole).
//!
//! - [`client`]: the regional client (a writer, and a reader of the read table);
//! - [`reader`]: reads, in a session or not, and queries (`reader::queries`);
//! - [`session`], [`digest`], [`outcome`]: what a session holds, an item's digest, what a
//!   write's outcome records;
//! - [`session_file`]: a session saved as a file or a token, bounded when read, and locked
//!   while a process uses it;
//! - [`query`]: queries, and when a session's query goes to the primary;
//! - [`served`]: which table served a read, why, and the counts;
//! - [`writes`], [`import`]: writes and imports recorded in a session.

pub mod client;
pub mod digest;
pub mod import;
pub mod outcome;
pub mod query;
pub mod reader;
pub mod served;
pub mod session;
pub mod session_file;
pub mod writes;
