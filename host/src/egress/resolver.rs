//! DNS for egress: names must resolve to public addresses. Checking at
//! connect time (not before) means a name cannot pass the check and then
//! re-resolve to 127.0.0.1 (DNS rebinding). `localhost` maps to loopback
//! without DNS; it is only reachable when an entry names it.

use super::allowed_hosts::is_non_public;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;

pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            if host == "localhost" {
                let addrs: Addrs = Box::new(vec![SocketAddr::from(([127, 0, 0, 1], 0))].into_iter());
                return Ok(addrs);
            }
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs: Addrs = Box::new(public_only(&host, all)?.into_iter());
            Ok(addrs)
        })
    }
}

/// Keep the public addresses `host` resolved to; none left is an error that
/// names the private address and the allowed_hosts entry that would reach it.
fn public_only(host: &str, all: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, String> {
    let public: Vec<SocketAddr> = all.iter().copied().filter(|a| !is_non_public(a.ip())).collect();
    if public.is_empty() {
        let first = all.first().map(|a| a.ip().to_string()).unwrap_or_else(|| "nothing".into());
        return Err(format!(
            "{host} resolves to {first}, a private or loopback address; such targets need an entry that names the address itself (e.g. \"http://{first}:PORT\")"
        ));
    }
    Ok(public)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| SocketAddr::new(a.parse().unwrap(), 0)).collect()
    }

    #[test]
    fn a_name_resolving_to_loopback_or_private_addresses_is_refused() {
        for private in
            ["127.0.0.1", "10.1.2.3", "192.168.0.7", "169.254.169.254", "::1", "fd00::1", "0.0.0.0", "100.64.0.1"]
        {
            let error = public_only("rebind.attacker.example", addrs(&[private])).unwrap_err();
            assert!(
                error.contains(&format!("resolves to {private}, a private or loopback address")),
                "{private}: {error}"
            );
        }
    }

    #[test]
    fn only_the_public_addresses_of_a_mixed_answer_are_dialled() {
        let kept = public_only("mixed.example", addrs(&["127.0.0.1", "93.184.216.34", "10.0.0.1"])).unwrap();
        assert_eq!(kept, addrs(&["93.184.216.34"]));
    }
}
