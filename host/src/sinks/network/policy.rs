//! Where a destination's plugin may send HTTP requests: an allowlist of
//! origins (`https://hooks.acme.example`, `https://*.acme.example:443`),
//! checked before anything is resolved, and rules on the addresses a name
//! resolves to, checked after: loopback, private, link-local (cloud
//! metadata), unique-local and other special addresses are refused unless
//! the allowlist names that very address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One allowed origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub https: bool,
    pub host: HostPattern,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// `hooks.acme.example`, lowercase.
    Name(String),
    /// `*.acme.example`: any name ending in `.acme.example` (not the bare
    /// `acme.example`).
    Subdomains(String),
    /// `127.0.0.1`, `[::1]`: the only way to allow a special address.
    Address(IpAddr),
}

/// Why an origin in the config cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OriginError {
    #[error("\"{0}\" is not scheme://host[:port] with scheme http or https")]
    Form(String),
    #[error("\"{0}\" has a path, query or credentials; an origin is scheme://host[:port]")]
    NotAnOrigin(String),
    #[error("\"{0}\": a wildcard stands for whole labels at the start (*.acme.example)")]
    Wildcard(String),
}

impl Origin {
    pub fn parse(text: &str) -> Result<Self, OriginError> {
        let form = || OriginError::Form(text.to_owned());
        let (scheme, rest) = text.split_once("://").ok_or_else(form)?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(form()),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(OriginError::NotAnOrigin(text.to_owned()));
        }
        let (host, port) = split_host_port(rest).ok_or_else(form)?;
        let port = port.unwrap_or(if https { 443 } else { 80 });
        let host = if let Ok(address) = host.parse::<IpAddr>() {
            HostPattern::Address(address)
        } else if let Some(suffix) = host.strip_prefix("*.") {
            if suffix.contains('*') || suffix.is_empty() {
                return Err(OriginError::Wildcard(text.to_owned()));
            }
            HostPattern::Subdomains(suffix.to_ascii_lowercase())
        } else if host.contains('*') {
            return Err(OriginError::Wildcard(text.to_owned()));
        } else if host.is_empty() {
            return Err(form());
        } else {
            HostPattern::Name(host.to_ascii_lowercase())
        };
        Ok(Self { https, host, port })
    }

    /// The origin of a URL someone other than the operator wrote (a
    /// customer's webhook URL): its scheme, host and port, with no wildcard.
    pub fn of_url(url: &str) -> Result<Self, OriginError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| OriginError::Form(url.to_owned()))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('*') {
            return Err(OriginError::Wildcard(url.to_owned()));
        }
        Self::parse(&format!("{scheme}://{authority}"))
    }

    /// Whether a request to `host:port` over `https` (or not) is to this origin.
    fn admits(&self, https: bool, host: &Host, port: u16) -> bool {
        if self.https != https || self.port != port {
            return false;
        }
        match (&self.host, host) {
            (HostPattern::Name(name), Host::Name(n)) => name == n,
            (HostPattern::Subdomains(suffix), Host::Name(n)) => n
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            (HostPattern::Address(a), Host::Address(b)) => a == b,
            _ => false,
        }
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host, port));
    }
    match text.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((text, None)),
    }
}

/// The host of a request: a name (lowercase) or an address literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Address(IpAddr),
}

impl Host {
    pub fn parse(text: &str) -> Self {
        let bare = text.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(address) => Host::Address(address),
            Err(_) => Host::Name(text.trim_end_matches('.').to_ascii_lowercase()),
        }
    }
}

/// A destination's rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub allow: Vec<Origin>,
    /// Origins admitted at public addresses only, even when they name a
    /// special one: what a customer's own URL adds (a customer must not
    /// reach the platform's private network by writing its address).
    pub allow_public: Vec<Origin>,
}

impl Policy {
    /// Whether the allowlist admits a request to `host:port`.
    pub fn admits(&self, https: bool, host: &Host, port: u16) -> bool {
        self.allow
            .iter()
            .chain(&self.allow_public)
            .any(|o| o.admits(https, host, port))
    }

    /// Whether a connection may go to `address:port`: any public address,
    /// and a special one only if the allowlist names it with that port (an
    /// origin at 127.0.0.1:9000 does not open 127.0.0.1's other ports to a
    /// name that resolves there).
    pub fn may_connect(&self, address: IpAddr, port: u16) -> bool {
        !is_special(address)
            || self
                .allow
                .iter()
                .any(|o| o.host == HostPattern::Address(address) && o.port == port)
    }
}

/// Addresses a request from a platform's servers must never reach unless an
/// operator says so: this host, its networks, link-local (where cloud
/// metadata services answer: 169.254.169.254, fd00:ec2::254), and
/// addresses that are not unicast on the internet.
pub fn is_special(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_special_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_special_v4(v4),
            None => is_special_v6(v6),
        },
    }
}

fn is_special_v4(a: Ipv4Addr) -> bool {
    let [first, second, ..] = a.octets();
    a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || first == 0
        // Carrier-grade NAT, 100.64.0.0/10: provider-internal.
        || (first == 100 && (64..128).contains(&second))
        // Reserved for future use, 240.0.0.0/4.
        || first >= 240
}

fn is_special_v6(a: Ipv6Addr) -> bool {
    let first = a.segments()[0];
    a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        // Unique local, fc00::/7 (AWS's metadata service: fd00:ec2::254).
        || (first & 0xfe00) == 0xfc00
        // Link-local, fe80::/10.
        || (first & 0xffc0) == 0xfe80
        // IPv4-compatible (deprecated) and NAT64 of special v4 addresses.
        || a.to_ipv4().is_some_and(|v4| first == 0 && is_special_v4(v4))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &[&str]) -> Policy {
        Policy {
            allow_public: Vec::new(),
            allow: allow.iter().map(|o| Origin::parse(o).unwrap()).collect(),
        }
    }

    fn name(n: &str) -> Host {
        Host::parse(n)
    }

    #[test]
    fn origins_parse_with_default_ports_and_reject_what_is_not_an_origin() {
        let o = Origin::parse("https://Hooks.Acme.example").unwrap();
        assert_eq!(o.host, HostPattern::Name("hooks.acme.example".into()));
        assert_eq!((o.https, o.port), (true, 443));
        let o = Origin::parse("http://[::1]:8080").unwrap();
        assert_eq!(o.host, HostPattern::Address("::1".parse().unwrap()));
        assert_eq!(o.port, 8080);
        for bad in [
            "hooks.acme.example",
            "ftp://a.example",
            "https://a.example/path",
            "https://user@a.example",
            "https://a.*.example",
            "https://*.",
            "https://a.example:99999",
            "https://",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_allowlist_matches_scheme_host_and_port() {
        let p = policy(&["https://hooks.acme.example", "https://*.acme.example:8443"]);
        assert!(p.admits(true, &name("hooks.acme.example"), 443));
        assert!(p.admits(true, &name("HOOKS.acme.example."), 443));
        assert!(!p.admits(false, &name("hooks.acme.example"), 443), "scheme");
        assert!(!p.admits(true, &name("hooks.acme.example"), 9443), "port");
        assert!(p.admits(true, &name("eu.acme.example"), 8443));
        assert!(p.admits(true, &name("a.b.acme.example"), 8443));
        assert!(
            !p.admits(true, &name("acme.example"), 8443),
            "the bare domain"
        );
        assert!(
            !p.admits(true, &name("evilacme.example"), 8443),
            "a label boundary"
        );
        assert!(!p.admits(true, &name("acme.example.evil.example"), 8443));
        assert!(!p.admits(true, &Host::Address("10.0.0.1".parse().unwrap()), 443));
    }

    #[test]
    fn special_addresses_need_the_allowlist_to_name_them() {
        let p = policy(&["https://hooks.acme.example", "http://127.0.0.1:9000"]);
        for special in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "224.0.0.1",
        ] {
            let address: IpAddr = special.parse().unwrap();
            assert!(is_special(address), "{special}");
            assert_eq!(
                p.may_connect(address, 9000),
                special == "127.0.0.1",
                "{special}"
            );
            assert!(!p.may_connect(address, 9001), "{special}: another port");
        }
        for public in [
            "93.184.216.34",
            "2606:2800:220:1::1",
            "8.8.8.8",
            "::ffff:8.8.8.8",
        ] {
            let address: IpAddr = public.parse().unwrap();
            assert!(!is_special(address), "{public}");
            assert!(p.may_connect(address, 443), "{public}");
        }
    }

    /// A customer's URL gives its origin, admitted at public addresses
    /// only: naming a private or metadata address does not open it.
    #[test]
    fn a_customers_url_opens_its_origin_at_public_addresses_only() {
        let origin = Origin::of_url("https://Hooks.Customer.example:8443/in?x=1").unwrap();
        assert_eq!(
            origin,
            Origin::parse("https://hooks.customer.example:8443").unwrap()
        );
        assert!(Origin::of_url("https://*.customer.example/in").is_err());
        assert!(Origin::of_url("https://user:pw@hooks.customer.example/").is_err());
        assert!(Origin::of_url("ftp://hooks.customer.example/").is_err());
        let metadata = Origin::of_url("http://169.254.169.254/latest/meta-data").unwrap();
        let policy = Policy {
            allow: Vec::new(),
            allow_public: vec![metadata],
        };
        let at = "169.254.169.254".parse().unwrap();
        assert!(
            policy.admits(false, &Host::Address(at), 80),
            "the origin is admitted"
        );
        assert!(!policy.may_connect(at, 80), "but not its special address");
        assert!(policy.may_connect("93.184.215.14".parse().unwrap(), 80));
    }
}
