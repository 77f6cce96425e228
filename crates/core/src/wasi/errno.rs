//! The WASI preview1 errno values the runtime returns.

/// A WASI errno (`u16` in the ABI, returned to the guest as `i32`).
pub type Errno = u16;

pub const SUCCESS: Errno = 0;
/// Bad file descriptor.
pub const EBADF: Errno = 8;
/// Bad address: a pointer or length outside the guest memory.
pub const EFAULT: Errno = 21;
/// Invalid argument.
pub const EINVAL: Errno = 28;
/// No space left: the collected output is full.
pub const ENOSPC: Errno = 51;
/// Function not supported.
pub const ENOSYS: Errno = 52;
/// Invalid seek (stdio has no offsets).
pub const ESPIPE: Errno = 70;
/// The capability is missing: what the sandbox never grants.
pub const ENOTCAPABLE: Errno = 76;
