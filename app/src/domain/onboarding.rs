//! A new reseller's way to a working business: the steps `/manage` ticks off by itself from what is
//! really there (never from a box the reseller clicks), in the order they are usually done.

use serde::{Deserialize, Serialize};

/// One thing a storefront needs before it is a business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OnboardingStep {
    /// The owner chose a password from the welcome email.
    PasswordSet,
    /// A logo is uploaded and the colours are the reseller's own.
    Branded,
    /// One of the reseller's own domains is verified.
    DomainVerified,
    /// The storefront's own Stripe keys are saved, so customers can pay by card.
    StripeKeys,
    /// The retail prices were saved or confirmed at least once.
    PricesReviewed,
    FirstCustomer,
    FirstPaidInvoice,
}

impl OnboardingStep {
    pub const ALL: [OnboardingStep; 7] = [
        OnboardingStep::PasswordSet,
        OnboardingStep::Branded,
        OnboardingStep::DomainVerified,
        OnboardingStep::StripeKeys,
        OnboardingStep::PricesReviewed,
        OnboardingStep::FirstCustomer,
        OnboardingStep::FirstPaidInvoice,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            OnboardingStep::PasswordSet => "Choose your password",
            OnboardingStep::Branded => "Upload your logo and choose your colours",
            OnboardingStep::DomainVerified => "Connect your own domain",
            OnboardingStep::StripeKeys => "Connect your Stripe account",
            OnboardingStep::PricesReviewed => "Review your prices",
            OnboardingStep::FirstCustomer => "Welcome your first customer",
            OnboardingStep::FirstPaidInvoice => "Get your first invoice paid",
        }
    }

    /// Where the step is done.
    pub const fn href(self) -> &'static str {
        match self {
            OnboardingStep::PasswordSet => "/manage/login",
            OnboardingStep::Branded => "/manage/branding",
            OnboardingStep::DomainVerified => "/manage/domains",
            OnboardingStep::StripeKeys => "/manage/billing#stripe",
            OnboardingStep::PricesReviewed => "/manage/catalog",
            OnboardingStep::FirstCustomer => "/manage/guide#customers",
            OnboardingStep::FirstPaidInvoice => "/manage/guide#billing",
        }
    }

    /// A stable name for tests and the page's `data-step`.
    pub const fn key(self) -> &'static str {
        match self {
            OnboardingStep::PasswordSet => "password",
            OnboardingStep::Branded => "branding",
            OnboardingStep::DomainVerified => "domain",
            OnboardingStep::StripeKeys => "stripe",
            OnboardingStep::PricesReviewed => "prices",
            OnboardingStep::FirstCustomer => "customer",
            OnboardingStep::FirstPaidInvoice => "paid-invoice",
        }
    }
}

/// Which steps are done, as the backend found them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checklist {
    pub done: Vec<OnboardingStep>,
}

impl Checklist {
    pub fn is_done(&self, step: OnboardingStep) -> bool {
        self.done.contains(&step)
    }

    /// (done, of all steps).
    pub fn progress(&self) -> (usize, usize) {
        (OnboardingStep::ALL.iter().filter(|s| self.is_done(**s)).count(), OnboardingStep::ALL.len())
    }

    pub fn complete(&self) -> bool {
        OnboardingStep::ALL.iter().all(|s| self.is_done(*s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_each_step_once_and_completes_with_all_of_them() {
        let mut c = Checklist { done: vec![OnboardingStep::PasswordSet, OnboardingStep::PasswordSet] };
        assert_eq!(c.progress(), (1, 7));
        assert!(!c.complete());
        c.done = OnboardingStep::ALL.to_vec();
        assert_eq!(c.progress(), (7, 7));
        assert!(c.complete());
        let keys: std::collections::HashSet<_> = OnboardingStep::ALL.iter().map(|s| s.key()).collect();
        assert_eq!(keys.len(), 7, "keys are distinct");
    }
}
