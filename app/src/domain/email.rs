//! Email addresses as accounts, invitations and storefront settings accept them.

/// The message shown for an address that is not accepted.
pub const INVALID_EMAIL: &str = "Enter an email address like owner@example.com.";

/// A plausible address, lower-cased and trimmed: one `@`, a dotted domain, no spaces or control
/// characters, at most 254 bytes. `None` otherwise (say why with [`INVALID_EMAIL`]).
pub fn parse_email(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    let plausible = e.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ',' | ';'));
    plausible.then_some(e)
}

#[cfg(test)]
mod tests {
    use super::parse_email;

    #[test]
    fn accepts_plausible_addresses_lower_cased() {
        assert_eq!(parse_email("  Owner@Example.COM "), Some("owner@example.com".to_owned()));
        assert_eq!(parse_email("a.b+c@mail.example.co.uk"), Some("a.b+c@mail.example.co.uk".to_owned()));
    }

    #[test]
    fn refuses_the_rest() {
        for bad in [
            "",
            "owner",
            "@example.com",
            "a@b@example.com",
            "a@example",
            "a@.example.com",
            "a@example.com.",
            "a b@example.com",
            "a@exa\u{7}mple.com",
            "\"a\"@example.com",
            "a,b@example.com",
            "<a@example.com>",
        ] {
            assert_eq!(parse_email(bad), None, "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(parse_email(&long), None);
    }
}
