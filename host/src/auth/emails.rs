//! The deployment's email lists (`[server.auth] allowed_emails`,
//! `admin_emails`): addresses compared case-insensitively, and
//! `*@example.org` entries that admit a whole domain.

/// One list of addresses and domain wildcards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailList {
    /// Lower-case full addresses.
    addresses: Vec<String>,
    /// Lower-case domains from `*@domain` entries.
    domains: Vec<String>,
}

impl EmailList {
    /// Parse entries: `user@host` or `*@host`.
    ///
    /// Errors: an entry that is neither (named, with the fix).
    pub fn parse(entries: &[String], setting: &str) -> anyhow::Result<EmailList> {
        let mut list = EmailList::default();
        for entry in entries {
            let entry = entry.trim().to_lowercase();
            match entry.split_once('@') {
                Some(("*", domain)) if valid_domain(domain) => list.domains.push(domain.to_string()),
                Some((local, domain)) if !local.is_empty() && !local.contains('*') && valid_domain(domain) => {
                    list.addresses.push(entry.clone())
                }
                _ => anyhow::bail!(
                    "[server.auth] {setting}: `{entry}` is not an email address; fix: write `name@example.org`, or `*@example.org` for a whole domain"
                ),
            }
        }
        Ok(list)
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.domains.is_empty()
    }

    /// Whether `email` is listed, by address or by domain (any case).
    pub fn contains(&self, email: &str) -> bool {
        let email = email.trim().to_lowercase();
        let Some((_, domain)) = email.rsplit_once('@') else { return false };
        self.addresses.contains(&email) || self.domains.iter().any(|d| d == domain)
    }
}

fn valid_domain(domain: &str) -> bool {
    !domain.is_empty() && !domain.contains(['@', '*', ' ']) && !domain.starts_with('.') && !domain.ends_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> EmailList {
        EmailList::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>(), "allowed_emails").unwrap()
    }

    #[test]
    fn addresses_match_in_any_case_and_wildcards_admit_their_domain_only() {
        let l = list(&["Alice@Example.com", "*@team.example.org"]);
        assert!(l.contains("alice@example.com") && l.contains("ALICE@EXAMPLE.COM"));
        assert!(l.contains("bob@team.example.org") && l.contains("Carol@TEAM.example.org"));
        assert!(!l.contains("bob@example.com"), "a listed address admits no one else at its domain");
        assert!(!l.contains("mallory@evil-team.example.org") && !l.contains("x@sub.team.example.org"));
        assert!(!l.contains("team.example.org") && !l.contains(""));
        assert!(list(&[]).is_empty() && !l.is_empty());
    }

    #[test]
    fn entries_that_are_not_addresses_are_refused_with_the_fix() {
        for bad in ["alice", "*", "*@", "a@b@c", "a*@b.c", "@b.c"] {
            let error = EmailList::parse(&[bad.to_string()], "admin_emails").unwrap_err().to_string();
            assert!(error.contains("admin_emails") && error.contains("fix:"), "{bad}: {error}");
        }
    }
}
