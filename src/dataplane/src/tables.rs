//! The per-worker tables are allocated once, at start, and their sizes come from the
//! configuration: an allocation that cannot be made must be an error the daemon reports before
//! it changes anything in the kernel, not an abort halfway through its start.

/// A table that could not be allocated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot allocate {bytes} bytes for the {what}")]
pub struct AllocError {
    pub what: &'static str,
    pub bytes: u64,
}

/// `n` copies of `v`, or an error when the memory cannot be reserved.
pub fn boxed<T: Clone>(what: &'static str, n: usize, v: T) -> Result<Box<[T]>, AllocError> {
    let mut t = Vec::new();
    t.try_reserve_exact(n).map_err(|_| AllocError {
        what,
        bytes: bytes_of::<T>(n),
    })?;
    t.resize(n, v);
    Ok(t.into_boxed_slice())
}

/// The size of `n` values of `T`.
pub fn bytes_of<T>(n: usize) -> u64 {
    (n as u64).saturating_mul(std::mem::size_of::<T>() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_impossible_size_is_an_error() {
        let e = boxed("test table", usize::MAX / 4, 0u64).unwrap_err();
        assert_eq!(e.what, "test table");
        assert_eq!(e.bytes, u64::MAX);
        assert_eq!(boxed("t", 3, 7u32).unwrap().as_ref(), &[7, 7, 7]);
    }
}
