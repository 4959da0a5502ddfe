//! Who runs things, as stored: a reseller staff member's role, the kind of a central session, and whom an
//! impersonation handle lets a platform admin become, why a member was sent a password link.

use crate::domain::stored::stored_enum;

stored_enum! {
    /// `staff.role` (and `staff_invites.role`): an owner manages the team and billing; an admin the rest.
    pub enum StaffRole {
        Owner = "owner",
        Admin = "admin",
    }
}

impl StaffRole {
    /// As people read it ("Owner").
    pub const fn label(self) -> &'static str {
        match self {
            Self::Owner => "Owner",
            Self::Admin => "Admin",
        }
    }
}

stored_enum! {
    /// `central_sessions.kind`: a platform admin's session (no tenant) or a staff member's (one tenant).
    pub enum SessionKind {
        Admin = "admin",
        Staff = "staff",
    }
}

stored_enum! {
    /// `impersonation_tokens.target_kind`: what an impersonation handle lets an admin become.
    pub enum ImpersonationTarget {
        Staff = "staff",
        Customer = "customer",
    }
}

stored_enum! {
    /// `staff_password_tokens.purpose`: why a staff member was sent a "set your password" link.
    pub enum PasswordLink {
        /// A new storefront's owner, who has no password yet: no admin ever chooses or sees it.
        Welcome = "welcome",
        /// A member who asked for a reset.
        Reset = "reset",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_stored_string() {
        for &r in StaffRole::ALL {
            assert_eq!(StaffRole::parse(r.as_str()), Ok(r));
            assert_eq!(serde_json::to_string(&r).ok(), Some(format!("\"{r}\"")));
            assert_eq!(serde_json::from_str::<StaffRole>(&format!("\"{r}\"")).ok(), Some(r));
        }
        for &k in SessionKind::ALL {
            assert_eq!(SessionKind::parse(k.as_str()), Ok(k));
            assert_eq!(serde_json::to_string(&k).ok(), Some(format!("\"{k}\"")));
            assert_eq!(serde_json::from_str::<SessionKind>(&format!("\"{k}\"")).ok(), Some(k));
        }
        for &t in ImpersonationTarget::ALL {
            assert_eq!(ImpersonationTarget::parse(t.as_str()), Ok(t));
            assert_eq!(serde_json::to_string(&t).ok(), Some(format!("\"{t}\"")));
            assert_eq!(serde_json::from_str::<ImpersonationTarget>(&format!("\"{t}\"")).ok(), Some(t));
        }
        for &l in PasswordLink::ALL {
            assert_eq!(PasswordLink::parse(l.as_str()), Ok(l));
            assert_eq!(serde_json::to_string(&l).ok(), Some(format!("\"{l}\"")));
        }
        assert_eq!(PasswordLink::Welcome.as_str(), "welcome");
        assert!(PasswordLink::parse("invite").is_err());
        assert_eq!(StaffRole::Owner.as_str(), "owner");
        assert_eq!(SessionKind::Staff.as_str(), "staff");
        assert_eq!(ImpersonationTarget::Customer.as_str(), "customer");
        assert!(StaffRole::parse("Owner").is_err());
        assert!(SessionKind::parse("customer").is_err());
        assert!(ImpersonationTarget::parse("admin").is_err());
    }
}
