//! Server addresses as users type them: `host`, `host:port`, `[v6]:port`, or a join link
//! `quicq://host:port#fp=HEX&invite=CODE` that also pins the server's certificate fingerprint
//! and may carry an invite code for registering on a server that needs one. A cluster's link
//! lists its nodes, `quicq://a.example:7373,b.example:7373#fp=HEX`; a client tries them in
//! order.

use std::fmt;
use std::str::FromStr;

use crate::protocol::{DEFAULT_PORT, MAX_INVITE_LEN};
use crate::tls::{BadFingerprint, Fingerprint};

pub const SCHEME: &str = "quicq://";

/// Where a server is, and optionally which certificate it must present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinLink {
    /// Host name or IP address, without brackets.
    pub host: String,
    pub port: u16,
    pub fingerprint: Option<Fingerprint>,
    /// An invite code for registering (`&invite=` in the link).
    pub invite: Option<String>,
    /// Other nodes of the same cluster (host, port), tried in order after `host` when it
    /// cannot be reached. They present the same certificate; the link's identity (its
    /// [`authority`](JoinLink::authority)) is the first address.
    pub more: Vec<(String, u16)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("server address is empty")]
    Empty,
    #[error("{0:?} is not a valid port")]
    BadPort(String),
    #[error("unterminated '[' in IPv6 address")]
    BadBracket,
    #[error("join link fragment must be '#fp=<fingerprint>', optionally with '&invite=<code>'")]
    BadFragment,
    #[error(transparent)]
    BadFingerprint(#[from] BadFingerprint),
}

impl JoinLink {
    /// `host:port` with brackets around an IPv6 address, the key used in known-servers files.
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }

    /// Every address, the first one first.
    pub fn addresses(&self) -> impl Iterator<Item = (&str, u16)> {
        std::iter::once((self.host.as_str(), self.port))
            .chain(self.more.iter().map(|(h, p)| (h.as_str(), *p)))
    }
}

fn authority(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

impl fmt::Display for JoinLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}", self.authority())?;
        for (host, port) in &self.more {
            write!(f, ",{}", authority(host, *port))?;
        }
        let mut sep = '#';
        if let Some(fp) = &self.fingerprint {
            write!(f, "{sep}fp={fp}")?;
            sep = '&';
        }
        if let Some(invite) = &self.invite {
            write!(f, "{sep}invite={invite}")?;
        }
        Ok(())
    }
}

impl FromStr for JoinLink {
    type Err = LinkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (rest, fragment) = match s.strip_prefix(SCHEME) {
            Some(rest) => match rest.split_once('#') {
                Some((authority, fragment)) => (authority.trim_end_matches('/'), Some(fragment)),
                None => (rest.trim_end_matches('/'), None),
            },
            None => (s, None),
        };
        let (mut fingerprint, mut invite) = (None, None);
        for part in fragment.into_iter().flat_map(|f| f.split('&')) {
            match part.split_once('=') {
                Some(("fp", fp)) if fingerprint.is_none() => fingerprint = Some(fp.parse()?),
                Some(("invite", code)) if invite.is_none() && valid_invite(code) => {
                    invite = Some(code.to_owned());
                }
                _ => return Err(LinkError::BadFragment),
            }
        }
        let mut addresses = rest.split(',').map(parse_authority);
        let (host, port) = addresses.next().ok_or(LinkError::Empty)??;
        let more = addresses.collect::<Result<_, _>>()?;
        Ok(JoinLink { host, port, fingerprint, invite, more })
    }
}

/// One `host`, `host:port`, `[v6]:port` or bare IPv6 address.
fn parse_authority(rest: &str) -> Result<(String, u16), LinkError> {
    if rest.is_empty() {
        return Err(LinkError::Empty);
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or(LinkError::BadBracket)?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(LinkError::BadPort(after.to_owned())),
        }
    } else if rest.matches(':').count() > 1 {
        (rest, None) // a bare IPv6 address
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(LinkError::Empty);
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| LinkError::BadPort(p.to_owned()))?,
        None => DEFAULT_PORT,
    };
    Ok((host.to_owned(), port))
}

/// An invite code as a link may carry it: 1 to [`MAX_INVITE_LEN`] letters, digits, `-` or `_`.
fn valid_invite(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= MAX_INVITE_LEN
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_addresses_and_links() {
        let l: JoinLink = "chat.example.org".parse().unwrap();
        assert_eq!(
            (l.host.as_str(), l.port, l.fingerprint),
            ("chat.example.org", DEFAULT_PORT, None)
        );
        let l: JoinLink = "127.0.0.1:9000".parse().unwrap();
        assert_eq!((l.host.as_str(), l.port), ("127.0.0.1", 9000));
        let l: JoinLink = "[::1]:9000".parse().unwrap();
        assert_eq!((l.host.as_str(), l.port), ("::1", 9000));
        assert_eq!(l.authority(), "[::1]:9000");
        let l: JoinLink = "::1".parse().unwrap();
        assert_eq!((l.host.as_str(), l.port), ("::1", DEFAULT_PORT));

        let fp = Fingerprint([7; 32]);
        let link = JoinLink {
            host: "h".into(),
            port: 1,
            fingerprint: Some(fp),
            invite: None,
            more: vec![],
        };
        let text = link.to_string();
        assert_eq!(text, format!("quicq://h:1#fp={}", fp.to_hex()));
        assert_eq!(text.parse::<JoinLink>().unwrap(), link);

        let invited = JoinLink { invite: Some("Xy12".into()), ..link.clone() };
        let text = invited.to_string();
        assert_eq!(text, format!("quicq://h:1#fp={}&invite=Xy12", fp.to_hex()));
        assert_eq!(text.parse::<JoinLink>().unwrap(), invited);
        let only = "quicq://h:1#invite=abc".parse::<JoinLink>().unwrap();
        assert_eq!((only.fingerprint, only.invite.as_deref()), (None, Some("abc")));
    }

    #[test]
    fn a_cluster_link_lists_its_nodes() {
        let fp = Fingerprint([9; 32]);
        let text = format!("quicq://a.example:7373,[::1]:7383,c.example#fp={}", fp.to_hex());
        let link: JoinLink = text.parse().unwrap();
        assert_eq!((link.host.as_str(), link.port), ("a.example", 7373));
        assert_eq!(
            link.more,
            vec![("::1".to_owned(), 7383), ("c.example".to_owned(), DEFAULT_PORT)]
        );
        assert_eq!(link.authority(), "a.example:7373", "the first node names the link");
        let all: Vec<(&str, u16)> = link.addresses().collect();
        assert_eq!(all, [("a.example", 7373), ("::1", 7383), ("c.example", DEFAULT_PORT)]);
        assert_eq!(
            link.to_string(),
            format!("quicq://a.example:7373,[::1]:7383,c.example:7373#fp={}", fp.to_hex())
        );
        assert_eq!(link.to_string().parse::<JoinLink>().unwrap(), link);
        assert_eq!("quicq://a:1,".parse::<JoinLink>(), Err(LinkError::Empty));
        assert!(matches!("quicq://a:1,b:x".parse::<JoinLink>(), Err(LinkError::BadPort(_))));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!("".parse::<JoinLink>(), Err(LinkError::Empty));
        assert!(matches!("h:port".parse::<JoinLink>(), Err(LinkError::BadPort(_))));
        assert!(matches!("h:70000".parse::<JoinLink>(), Err(LinkError::BadPort(_))));
        assert_eq!("[::1".parse::<JoinLink>(), Err(LinkError::BadBracket));
        assert_eq!("quicq://h:1#x=1".parse::<JoinLink>(), Err(LinkError::BadFragment));
        assert_eq!("quicq://h:1#invite=".parse::<JoinLink>(), Err(LinkError::BadFragment));
        assert_eq!("quicq://h:1#invite=<x>".parse::<JoinLink>(), Err(LinkError::BadFragment));
        assert_eq!(
            "quicq://h:1#invite=a&invite=b".parse::<JoinLink>(),
            Err(LinkError::BadFragment)
        );
        assert!(matches!(
            "quicq://h:1#fp=12".parse::<JoinLink>(),
            Err(LinkError::BadFingerprint(_))
        ));
    }
}
