//! Who is signed in: customers of a storefront, its staff, platform admins.
//!
//! | module      | owns |
//! |-------------|------|
//! | `auth`      | password hashing, customers' browser sessions and emailed links |
//! | `tokens`    | random tokens and their hashes; single-use tokens: issue, peek, redeem once, revoke |
//! | `customers` | customer accounts and their Kasm identity |
//! | `customer_account` | a customer's own account, one call per flow: sign in and up, verify, reset, change |
//! | `accounts`  | platform admins and reseller staff, and their sessions |
//! | `notify`    | the account emails: verification, password reset, email change, welcome |
//! | `sign_in`   | starting staff and admin sessions: sign-in, accepting an invitation, redeeming "act as" |
//! | `staff_password` | staff passwords chosen from an emailed link: a new owner's welcome, a member's reset |
//! | `team`      | a storefront's team: owners invite and remove members |

pub mod accounts;
pub mod auth;
pub mod customer_account;
pub mod customers;
pub mod notify;
pub mod sign_in;
pub mod staff_password;
pub mod team;
pub mod tokens;
