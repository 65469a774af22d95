//! Errors as one line for people: each cause once, outermost first.

use std::error::Error;

/// `what failed: cause: deeper cause`, skipping a cause whose text its parent already quotes
/// (many errors repeat their source in their own message).
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut out = String::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("cannot open the database")]
        Open(#[source] std::io::Error),
        #[error("bad config: {0}")]
        Quoting(#[source] std::io::Error),
    }

    #[test]
    fn lists_causes_once_each() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        assert_eq!(one_line(&Outer::Open(io())), "cannot open the database: no such file");
        assert_eq!(one_line(&Outer::Quoting(io())), "bad config: no such file");
        assert_eq!(one_line(&io()), "no such file");
    }

    #[test]
    fn walks_anyhow_context_like_its_chain() {
        use anyhow::Context;
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let e = Err::<(), _>(Outer::Open(io)).context("cannot start server").unwrap_err();
        let expected = e.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ");
        assert_eq!(one_line(e.as_ref()), expected);
        assert_eq!(expected, "cannot start server: cannot open the database: permission denied");
    }
}
