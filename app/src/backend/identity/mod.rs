//! Who is signed in: customers of a storefront, its staff, platform admins.
//!
//! | module      | owns |
//! |-------------|------|
//! | `auth`      | password hashing, browser sessions, single-use tokens |
//! | `customers` | customer accounts and their Kasm identity |
//! | `accounts`  | platform admins and reseller staff, and their sessions |
//! | `notify`    | the account emails: verification, password reset, email change, welcome |

pub mod accounts;
pub mod auth;
pub mod customers;
pub mod notify;
