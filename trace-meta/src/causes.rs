//! An error and its causes on one line, for the messages this crate logs itself.
//!
//! Each error of this crate says what failed in its own words and keeps its cause as its
//! `source()`; a message a user reads shows the whole chain, as anyhow's `{:#}` does.

use std::{error::Error, fmt};

/// `error`, then each of its `source()`s, separated by `: `.
pub(crate) fn chain<'a>(error: &'a (dyn Error + 'static)) -> Chain<'a> {
    Chain(error)
}

/// The [`Display`](fmt::Display) of [`chain`].
pub(crate) struct Chain<'a>(&'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn every_cause_once() {
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(super::chain(&error).to_string(), "outer: inner");
    }
}
