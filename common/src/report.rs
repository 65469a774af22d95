//! Errors as one line for people: each cause once, outermost first.

use std::error::Error;

/// `error: cause: deeper cause`, skipping a cause whose text its parent already quotes (many
/// errors repeat their source in their own message).
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
}
