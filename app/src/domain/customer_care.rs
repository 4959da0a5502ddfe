//! What a reseller's action on a customer must carry: a reason (every such action is audited with one),
//! and, for credit, which way it moves.

use serde::{Deserialize, Serialize};

use crate::domain::stored::stored_enum;

/// The longest reason kept, in characters: a sentence or two, not a letter.
pub const MAX_REASON_CHARS: usize = 500;

/// Why a reseller did something to a customer's account: never empty, one line, at most
/// [`MAX_REASON_CHARS`] characters. It goes into the audit log and, for money, onto what the customer sees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason(String);

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    #[error("Give a reason: it is recorded with the change.")]
    Empty,
    #[error("Keep the reason to one line of at most 500 characters.")]
    TooLong,
}

impl Reason {
    /// Trimmed; inner runs of whitespace (line breaks included) become one space, other control
    /// characters are refused as "too long" is: neither belongs in a one-line note.
    pub fn parse(raw: &str) -> Result<Reason, ReasonError> {
        let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            return Err(ReasonError::Empty);
        }
        if text.chars().count() > MAX_REASON_CHARS || text.chars().any(char::is_control) {
            return Err(ReasonError::TooLong);
        }
        Ok(Reason(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

stored_enum! {
    /// Which way a credit adjustment moves the customer's prepaid credit.
    pub enum CreditDirection {
        Add = "add",
        Remove = "remove",
    }
}

stored_enum! {
    /// Where the amount of a credit note goes back to: the customer's prepaid credit, or (for what was
    /// paid by card) the card, through the storefront's Stripe.
    pub enum CreditTo {
        Credit = "credit",
        Card = "card",
    }
}

stored_enum! {
    /// `card_refunds.status`: sent to Stripe and accepted, not known yet (the next attempt finishes it),
    /// or refused by Stripe (the amount went to prepaid credit instead).
    pub enum CardRefundStatus {
        Pending = "pending",
        Refunded = "refunded",
        Failed = "failed",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_one_non_empty_line() {
        assert_eq!(Reason::parse("  goodwill \n for the outage ").unwrap().as_str(), "goodwill for the outage");
        assert_eq!(Reason::parse(""), Err(ReasonError::Empty));
        assert_eq!(Reason::parse(" \t\r\n "), Err(ReasonError::Empty));
        assert_eq!(Reason::parse(&"x".repeat(501)), Err(ReasonError::TooLong));
        assert!(Reason::parse(&"é".repeat(500)).is_ok());
        assert_eq!(Reason::parse("bell\u{7}"), Err(ReasonError::TooLong));
    }

    #[test]
    fn directions_and_targets_parse_strictly() {
        assert_eq!(CreditDirection::parse("add"), Ok(CreditDirection::Add));
        assert_eq!(CreditTo::parse("card"), Ok(CreditTo::Card));
        assert!(CreditDirection::parse("Add").is_err() && CreditTo::parse("").is_err());
        assert_eq!(CardRefundStatus::parse("refunded"), Ok(CardRefundStatus::Refunded));
    }
}
