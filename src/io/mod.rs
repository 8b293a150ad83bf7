//! What the CLI, the fuzz targets and the C ABI read: request lines and plan sweeps in JSON
//! ([`request`]), token losses in `.npy` files ([`npy`]).

pub mod npy;
pub mod request;
