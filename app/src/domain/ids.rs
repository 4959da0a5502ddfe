//! Typed ids: a `WorkspaceId` can never be passed where a `CustomerId` is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// A fresh random id (server side only: the browser never mints ids).
            #[cfg(feature = "ssr")]
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self).map_err(|_| InvalidId)
            }
        }
    };
}

/// The text was not an id of the expected shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id")]
pub struct InvalidId;

typed_id!(
    /// A reseller (or the house storefront).
    TenantId
);
typed_id!(
    /// A customer of one tenant.
    CustomerId
);
typed_id!(
    /// A customer's workspace (one Kasm session over its life, stopped and resumed).
    WorkspaceId
);
typed_id!(
    /// One contiguous running interval of a workspace.
    UsageSessionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let text = "6f1c2d8e-35a1-4b7e-9d0f-0a1b2c3d4e5f";
        let id: WorkspaceId = text.parse().unwrap_or_else(|_| panic!("valid id"));
        assert_eq!(id.to_string(), text);
    }

    #[test]
    fn garbage_is_not_an_id() {
        assert_eq!("42; DROP TABLE".parse::<CustomerId>(), Err(InvalidId));
        assert_eq!("".parse::<CustomerId>(), Err(InvalidId));
    }
}
