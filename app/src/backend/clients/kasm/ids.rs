//! Kasm's ids: UUIDs that arrive in two spellings (32 hex digits, or dashed — `request_kasm` answers a dashed
//! `kasm_id` next to an undashed `user_id`). They are parsed once, here, and compared as UUIDs from then on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Parses either spelling of a Kasm id (surrounding whitespace tolerated).
pub fn parse_kasm_uuid(s: &str) -> Result<Uuid, uuid::Error> {
    Uuid::try_parse(s.trim())
}

macro_rules! kasm_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        ///
        /// Displays (and serialises) as 32 lower-case hex digits, Kasm's usual form; parses from either spelling.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Parses the dashed or the undashed spelling.
            pub fn parse(s: &str) -> Result<Self, uuid::Error> {
                parse_kasm_uuid(s).map(Self)
            }

            /// A fresh random id (the simulator and tests mint ids with this).
            pub fn new_v4() -> Self {
                Self(Uuid::new_v4())
            }

            /// The undashed spelling, e.g. `50faa5439c574b518cd868dac9256e4b`.
            pub fn simple(&self) -> String {
                self.0.simple().to_string()
            }

            /// The dashed spelling, e.g. `50faa543-9c57-4b51-8cd8-68dac9256e4b`.
            pub fn hyphenated(&self) -> String {
                self.0.hyphenated().to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.simple(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.simple())
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0.simple())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Self::parse(&raw).map_err(|_| {
                    serde::de::Error::custom(format_args!(
                        concat!("invalid ", stringify!($name), " {:?}"),
                        raw
                    ))
                })
            }
        }
    };
}

kasm_id!(
    /// A Kasm user (`user_id`).
    KasmUserId
);
kasm_id!(
    /// A Kasm image, i.e. a container "workspace" definition (`image_id`).
    KasmImageId
);
kasm_id!(
    /// One Kasm session ("kasm"), `kasm_id`.
    KasmId
);
kasm_id!(
    /// A Kasm group (`group_id`): groups grant access to images and carry session settings.
    KasmGroupId
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const DASHED: &str = "4fa42139-aef3-4c57-9b1e-0d1f0c6f2a10";
    const UNDASHED: &str = "4fa42139aef34c579b1e0d1f0c6f2a10";

    #[test]
    fn both_spellings_parse_to_the_same_id() {
        let a = KasmId::parse(DASHED).unwrap();
        let b = KasmId::parse(UNDASHED).unwrap();
        assert_eq!(a, b);
        assert_eq!(KasmId::parse(&DASHED.to_uppercase()).unwrap(), a);
    }

    #[test]
    fn display_and_serialisation_use_the_undashed_spelling() {
        let id = KasmUserId::parse(DASHED).unwrap();
        assert_eq!(id.to_string(), UNDASHED);
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{UNDASHED}\""));
        assert_eq!(id.hyphenated(), DASHED);
        assert_eq!(format!("{id:?}"), format!("KasmUserId({UNDASHED})"));
    }

    #[test]
    fn deserialisation_accepts_either_spelling_and_rejects_garbage() {
        let a: KasmImageId = serde_json::from_str(&format!("\"{DASHED}\"")).unwrap();
        let b: KasmImageId = serde_json::from_str(&format!("\"{UNDASHED}\"")).unwrap();
        assert_eq!(a, b);
        assert!(serde_json::from_str::<KasmImageId>("\"not-a-uuid\"").is_err());
        assert!(serde_json::from_str::<KasmImageId>("\"\"").is_err());
        assert!(serde_json::from_str::<KasmImageId>("12").is_err());
    }
}
