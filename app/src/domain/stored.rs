//! States stored as text: each is an enum whose serde names and `as_str()` are exactly the stored
//! strings, and whose `FromStr` rejects anything else (the backend reports that as a corrupt row).

use std::fmt;

/// A stored state string that names no variant of its enum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownState {
    pub what: &'static str,
    pub value: String,
}

impl fmt::Display for UnknownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {}: {:?}", self.what, self.value)
    }
}

impl std::error::Error for UnknownState {}

/// Declares an enum of stored strings: `Variant = "stored"`.
macro_rules! stored_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $var),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The stored string.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$var => $s),+
                }
            }

            /// The variant a stored string names; anything else is an error naming the enum.
            pub fn parse(s: &str) -> Result<Self, $crate::domain::stored::UnknownState> {
                s.parse()
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::stored::UnknownState;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$var),)+
                    _ => Err($crate::domain::stored::UnknownState { what: stringify!($name), value: s.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use stored_enum;

#[cfg(test)]
mod tests {
    stored_enum! {
        pub enum Sample { One = "one", Two = "two" }
    }

    #[test]
    fn round_trips_and_rejects_unknown() {
        for s in Sample::ALL {
            assert_eq!(s.as_str().parse::<Sample>(), Ok(*s));
            assert_eq!(serde_json::to_string(s).ok(), Some(format!("\"{}\"", s.as_str())));
        }
        assert_eq!(Sample::parse("two"), Ok(Sample::Two));
        assert!("three".parse::<Sample>().is_err());
        assert!("One".parse::<Sample>().is_err());
    }
}
