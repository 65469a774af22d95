//! What the server field accepts: `host`, `host:port` or a `quicq://` join link. Anything else
//! (a web address, a path, a port that is not a number) is caught here, before the network
//! thread tries it, so the user gets a sentence about what to type instead of a parser's error.

use quicq_common::JoinLink;
use quicq_common::link::LinkError;

/// Why the server field's text is not an address to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressProblem {
    /// A URL of another kind, such as `https://…`; carries the scheme.
    OtherScheme(String),
    /// The text after the last `:` is not a port number.
    BadPort,
    /// A `quicq://` link with a damaged `#fp=…&invite=…` part.
    BadLink,
    /// Anything else (empty host, an unclosed `[`, spaces).
    Invalid,
}

/// Checks the server field; `Ok` means the network thread can try it.
pub fn check(input: &str) -> Result<JoinLink, AddressProblem> {
    let input = input.trim();
    if let Some((scheme, _)) = input.split_once("://")
        && !scheme.eq_ignore_ascii_case("quicq")
    {
        return Err(AddressProblem::OtherScheme(scheme.to_ascii_lowercase()));
    }
    let link: JoinLink = input.parse().map_err(|e| match e {
        LinkError::BadPort(_) => AddressProblem::BadPort,
        LinkError::BadFragment | LinkError::BadFingerprint(_) => AddressProblem::BadLink,
        _ => AddressProblem::Invalid,
    })?;
    if link.host.contains(|c: char| c.is_whitespace() || c == '/' || c == '@') {
        return Err(AddressProblem::Invalid);
    }
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_field_takes_addresses_and_join_links_only() {
        let fp = "quicq://h:1#fp=".to_owned() + &"ab".repeat(32);
        let cases = [
            ("chat.example.org", Ok(("chat.example.org", 7373))),
            (" chat.example.org:7000 ", Ok(("chat.example.org", 7000))),
            ("127.0.0.1:9", Ok(("127.0.0.1", 9))),
            ("[::1]:9", Ok(("::1", 9))),
            ("quicq://h:1", Ok(("h", 1))),
            ("QUICQ://h:1/", Err(AddressProblem::Invalid)),
            (fp.as_str(), Ok(("h", 1))),
            ("https://host:7373", Err(AddressProblem::OtherScheme("https".into()))),
            ("HTTP://host", Err(AddressProblem::OtherScheme("http".into()))),
            ("host:port", Err(AddressProblem::BadPort)),
            ("host:7373/chat", Err(AddressProblem::BadPort)),
            ("host:99999", Err(AddressProblem::BadPort)),
            ("quicq://h:1#fp=nothex", Err(AddressProblem::BadLink)),
            ("quicq://h:1#token=1", Err(AddressProblem::BadLink)),
            ("[::1", Err(AddressProblem::Invalid)),
            ("my server", Err(AddressProblem::Invalid)),
            ("host/chat", Err(AddressProblem::Invalid)),
        ];
        for (input, want) in cases {
            let got = check(input);
            let got = got.as_ref().map(|l| (l.host.as_str(), l.port)).map_err(Clone::clone);
            assert_eq!(got, want, "{input:?}");
        }
    }
}
