//! Limits on what one request may ask for: credits in one allocation, and
//! the length of a label or an account name.

/// Largest credit allocation in one request, in cents.
pub(crate) const MAX_CREDITS_CENTS: u64 = 100_000_000;
/// Longest label (or account name), in characters.
pub(crate) const MAX_LABEL_CHARS: usize = 128;
