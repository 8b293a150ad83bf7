//! What the CLI, the fuzz targets and the C ABI read: request lines and plan sweeps in JSON
//! ([`request`]), the event stream that drives a sweep ([`events`]), token losses in `.npy`
//! files ([`npy`]) and the index files that name them per checkpoint ([`loss_index`]).

pub mod events;
pub mod loss_index;
pub mod npy;
pub mod request;
