//! Parsing and matching of `allowed_hosts` entries, parsed once at load.
//!
//! | entry                     | scheme | host                                   | port        |
//! |---------------------------|--------|----------------------------------------|-------------|
//! | `https://api.openai.com`  | https  | exactly `api.openai.com`               | 443         |
//! | `api.openai.com`          | https  | exactly `api.openai.com`               | 443         |
//! | `https://*.fal.media`     | https  | any subdomain of `fal.media` (not itself) | 443      |
//! | `https://host:8443`       | https  | exactly `host`                         | 8443        |
//! | `http://127.0.0.1:8188`   | http   | the literal address                    | 8188        |
//!
//! `http://` must be written out; a bare host means https. A lone `*` or a
//! wildcard in the middle is refused: an empty list denies everything.
//!
//! Private, loopback and link-local addresses are reachable only through an
//! entry that names them literally (an IP address or `localhost`): a
//! hostname that resolves to such an address is refused at connect time
//! (see [`super::resolver`]), which also stops DNS rebinding.
//!
//! ```
//! use easel::egress::allowed_hosts::AllowedHost;
//! let entry: AllowedHost = "https://*.fal.media".parse().unwrap();
//! assert!(entry.matches(&"https://v3.fal.media/x.png".parse().unwrap()));
//! assert!(!entry.matches(&"http://v3.fal.media/x.png".parse().unwrap()));
//! assert!("https://*".parse::<AllowedHost>().is_err());
//! ```

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use url::{Host, Url};

/// One parsed `allowed_hosts` entry (parse with [`str::parse`], or
/// deserialize from a string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    pub scheme: Scheme,
    pub host: HostPattern,
    /// The port URLs must use (the scheme's default when not written).
    pub port: u16,
}

/// The scheme an entry allows (one per entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// The host part of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// A DNS name, lower-case.
    Exact(String),
    /// `*.suffix`: any name ending in `.suffix`.
    Subdomains(String),
    /// An IP literal: the one way (with `localhost`) to allow a private address.
    Ip(IpAddr),
}

impl AllowedHost {
    /// Whether the entry can reach the public internet: a DNS name other
    /// than `localhost`, or a public IP literal.
    pub fn is_public(&self) -> bool {
        match &self.host {
            HostPattern::Exact(name) => name != "localhost",
            HostPattern::Subdomains(_) => true,
            HostPattern::Ip(ip) => !is_non_public(*ip),
        }
    }

    /// Whether `url` is covered by this entry (scheme, host and port).
    pub fn matches(&self, url: &Url) -> bool {
        let scheme_ok = matches!((self.scheme, url.scheme()), (Scheme::Http, "http") | (Scheme::Https, "https"));
        if !scheme_ok || url.port_or_known_default() != Some(self.port) {
            return false;
        }
        match (&self.host, url.host()) {
            (HostPattern::Exact(name), Some(Host::Domain(host))) => host.eq_ignore_ascii_case(name),
            (HostPattern::Subdomains(suffix), Some(Host::Domain(host))) => {
                let host = host.to_ascii_lowercase();
                host.len() > suffix.len() + 1
                    && host.ends_with(suffix.as_str())
                    && host[..host.len() - suffix.len()].ends_with('.')
            }
            (HostPattern::Ip(ip), Some(Host::Ipv4(v4))) => *ip == IpAddr::V4(v4),
            (HostPattern::Ip(ip), Some(Host::Ipv6(v6))) => *ip == IpAddr::V6(v6),
            _ => false,
        }
    }

    /// The entry an operator would add to allow `url`.
    pub fn suggestion_for(url: &Url) -> String {
        let host = url.host_str().unwrap_or("?");
        match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        }
    }
}

impl FromStr for AllowedHost {
    type Err = String;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let entry = entry.trim();
        let (scheme, rest) = match entry.split_once("://") {
            Some(("https", rest)) => (Scheme::Https, rest),
            Some(("http", rest)) => (Scheme::Http, rest),
            Some((other, _)) => return Err(format!("scheme `{other}` is not http or https")),
            None => (Scheme::Https, entry),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') || rest.contains('@') {
            return Err("give only scheme, host and port (no path, query or user)".into());
        }
        let (wildcard, authority) = match rest.strip_prefix("*.") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        if authority.contains('*') {
            return Err("wildcards are only allowed as a leading `*.`".into());
        }
        let default_port = if scheme == Scheme::Https { 443 } else { 80 };
        // Let the URL parser split host and port (handles [v6]:port).
        let probe = Url::parse(&format!("{}://{authority}/", if scheme == Scheme::Https { "https" } else { "http" }))
            .map_err(|e| format!("not a host: {e}"))?;
        let port = probe.port().unwrap_or(default_port);
        let host = match probe.host() {
            Some(Host::Domain(name)) if wildcard && !name.contains('.') => {
                return Err("a wildcard needs a suffix with a dot, e.g. `*.fal.media`".into());
            }
            Some(Host::Domain(name)) if wildcard => HostPattern::Subdomains(name.to_ascii_lowercase()),
            Some(Host::Domain(name)) => HostPattern::Exact(name.to_ascii_lowercase()),
            Some(_) if wildcard => return Err("wildcards apply to names, not addresses".into()),
            Some(Host::Ipv4(v4)) => HostPattern::Ip(IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => HostPattern::Ip(IpAddr::V6(v6)),
            None => return Err("missing host".into()),
        };
        Ok(AllowedHost { scheme, host, port })
    }
}

/// An entry read from configuration as a string in any of the forms
/// above; a malformed one is a deserialization error reading
/// ``bad host `ENTRY`: why`` (so the config loader reports its position).
impl<'de> serde::Deserialize<'de> for AllowedHost {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        text.parse().map_err(|e| serde::de::Error::custom(format!("bad host `{text}`: {e}")))
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.scheme == Scheme::Https { "https" } else { "http" };
        let host = match &self.host {
            HostPattern::Exact(name) => name.clone(),
            HostPattern::Subdomains(suffix) => format!("*.{suffix}"),
            HostPattern::Ip(IpAddr::V6(v6)) => format!("[{v6}]"),
            HostPattern::Ip(ip) => ip.to_string(),
        };
        write!(f, "{scheme}://{host}:{}", self.port)
    }
}

/// Whether an address is not on the public internet: loopback, private,
/// link-local (cloud metadata lives at 169.254.169.254), CGNAT,
/// unspecified, multicast, broadcast, reserved, documentation or
/// benchmarking ranges (IANA special-purpose registries, RFC 6890), and
/// IPv6 forms that embed such an IPv4 address (`::a.b.c.d`, `::ffff:…`,
/// NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) or hide one (Teredo).
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || o[0] == 0
                // 100.64/10 shared address space (carrier-grade NAT), RFC 6598
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                // 192.0.0/24 IETF protocol assignments, RFC 6890
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                // documentation: 192.0.2/24, 198.51.100/24, 203.0.113/24, RFC 5737
                || (o[0] == 192 && o[1] == 0 && o[2] == 2)
                || (o[0] == 198 && o[1] == 51 && o[2] == 100)
                || (o[0] == 203 && o[1] == 0 && o[2] == 113)
                // 192.88.99/24 the retired 6to4 relay anycast, RFC 7526
                || (o[0] == 192 && o[1] == 88 && o[2] == 99)
                // 198.18/15 benchmarking, RFC 2544
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                // 240/4 reserved, including the broadcast address, RFC 1112
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                is_non_public(IpAddr::V4(std::net::Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))))
            };
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_non_public(IpAddr::V4(v4));
            }
            // ::/96 (IPv4-compatible `::a.b.c.d`, deprecated, RFC 4291) and ::1, ::
            if s[..6].iter().all(|&x| x == 0) {
                return true;
            }
            // 64:ff9b::/96 well-known NAT64 prefix (RFC 6052): the IPv4 address it embeds decides
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return embedded(s[6], s[7]);
            }
            // 6to4 2002::/16 (RFC 3056): the IPv4 address in bits 16..48 decides
            if s[0] == 0x2002 {
                return embedded(s[1], s[2]);
            }
            v6.is_multicast()
                // unique local fc00::/7, link-local fe80::/10, deprecated site-local fec0::/10
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                // local-use NAT64 64:ff9b:1::/48, RFC 8215
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
                // Teredo 2001::/32 (RFC 4380): the client address is obfuscated, so never dialled
                || (s[0] == 0x2001 && s[1] == 0)
                // documentation 2001:db8::/32 (RFC 3849), discard-only 100::/64 (RFC 6666)
                || (s[0] == 0x2001 && s[1] == 0xdb8)
                || (s[0] == 0x100 && s[1..4] == [0, 0, 0])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_forms_embedding_ipv4_and_special_ipv4_ranges_are_non_public() {
        for private in [
            "::127.0.0.1",
            "::10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:1::5",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "100::1",
            "fec0::1",
            "240.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "198.19.255.254",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "192.0.0.8",
            "192.88.99.1",
        ] {
            assert!(is_non_public(private.parse().unwrap()), "{private} must count as non-public");
        }
        for public in
            ["93.184.216.34", "64:ff9b::5db8:d822", "2002:5db8:d822::1", "2606:4700::1111", "8.8.8.8", "198.20.0.1"]
        {
            assert!(!is_non_public(public.parse().unwrap()), "{public} is public");
        }
    }

    #[test]
    fn bare_host_means_https_443() {
        let e: AllowedHost = "api.openai.com".parse().unwrap();
        assert!(e.matches(&url("https://api.openai.com/v1/images")));
        assert!(!e.matches(&url("http://api.openai.com/v1/images")));
        assert!(!e.matches(&url("https://api.openai.com:8443/")));
        assert!(!e.matches(&url("https://evil-api.openai.com/")));
    }

    #[test]
    fn wildcard_covers_subdomains_only() {
        let e: AllowedHost = "https://*.fal.media".parse().unwrap();
        assert!(e.matches(&url("https://v3.fal.media/files/a.png")));
        assert!(!e.matches(&url("https://fal.media/")));
        assert!(!e.matches(&url("https://evilfal.media/")));
    }

    #[test]
    fn explicit_http_and_port() {
        let e: AllowedHost = "http://127.0.0.1:8188".parse().unwrap();
        assert!(e.matches(&url("http://127.0.0.1:8188/prompt")));
        assert!(!e.matches(&url("http://127.0.0.1:8189/prompt")));
        assert!(!e.matches(&url("https://127.0.0.1:8188/prompt")));
    }

    #[test]
    fn refuses_broad_or_odd_entries() {
        for bad in ["*", "https://*", "https://a.*.com", "ftp://x.com", "https://x.com/path", "*.com2"] {
            assert!(bad.parse::<AllowedHost>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn classifies_private_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_non_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2606:4700::1111"] {
            assert!(!is_non_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
