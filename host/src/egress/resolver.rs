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
            let public: Vec<SocketAddr> = all.iter().copied().filter(|a| !is_non_public(a.ip())).collect();
            if public.is_empty() {
                let first = all.first().map(|a| a.ip().to_string()).unwrap_or_else(|| "nothing".into());
                return Err(format!(
                    "{host} resolves to {first}, a private or loopback address; such targets need an entry that names the address itself (e.g. \"http://{first}:PORT\")"
                )
                .into());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}
