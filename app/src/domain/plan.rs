//! The catalog's six workspace plans (Developer / Business × Basic / Pro / Enterprise).

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    Developer,
    Business,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tier {
    Basic,
    Pro,
    Enterprise,
}

/// A plan's stable code, as stored and as sent by the order form ("developer-basic", ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlanCode {
    pub family: Family,
    pub tier: Tier,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("there is no such workspace plan")]
pub struct UnknownPlan;

impl PlanCode {
    pub const ALL: [PlanCode; 6] = [
        PlanCode { family: Family::Developer, tier: Tier::Basic },
        PlanCode { family: Family::Developer, tier: Tier::Pro },
        PlanCode { family: Family::Developer, tier: Tier::Enterprise },
        PlanCode { family: Family::Business, tier: Tier::Basic },
        PlanCode { family: Family::Business, tier: Tier::Pro },
        PlanCode { family: Family::Business, tier: Tier::Enterprise },
    ];

    pub const fn as_str(self) -> &'static str {
        match (self.family, self.tier) {
            (Family::Developer, Tier::Basic) => "developer-basic",
            (Family::Developer, Tier::Pro) => "developer-pro",
            (Family::Developer, Tier::Enterprise) => "developer-enterprise",
            (Family::Business, Tier::Basic) => "business-basic",
            (Family::Business, Tier::Pro) => "business-pro",
            (Family::Business, Tier::Enterprise) => "business-enterprise",
        }
    }

    pub fn parse(s: &str) -> Result<PlanCode, UnknownPlan> {
        PlanCode::ALL.into_iter().find(|p| p.as_str() == s.trim()).ok_or(UnknownPlan)
    }

    /// The seed's sizing and house prices for this plan.
    pub const fn spec(self) -> PlanSpec {
        match (self.family, self.tier) {
            (Family::Developer, Tier::Basic) => PlanSpec {
                name: "Developer Basic",
                vcpu: 2,
                ram_gb: 4,
                summary: "Linux desktop with VS Code",
                retail_per_hour: "0.15",
                wholesale_per_hour: "0.10",
                kasm_image: "kasmweb/vs-code:1.16.0",
                apps: &["VS Code", "Git", "Firefox"],
                icon: "code",
            },
            (Family::Developer, Tier::Pro) => PlanSpec {
                name: "Developer Pro",
                vcpu: 4,
                ram_gb: 8,
                summary: "Multiple IDEs and Docker",
                retail_per_hour: "0.30",
                wholesale_per_hour: "0.20",
                kasm_image: "kasmweb/developer-pro:1.16.0",
                apps: &["VS Code", "IntelliJ IDEA Community", "Docker", "Git", "Firefox"],
                icon: "terminal",
            },
            (Family::Developer, Tier::Enterprise) => PlanSpec {
                name: "Developer Enterprise",
                vcpu: 8,
                ram_gb: 16,
                summary: "The full development stack",
                retail_per_hour: "0.60",
                wholesale_per_hour: "0.40",
                kasm_image: "kasmweb/developer-enterprise:1.16.0",
                apps: &["VS Code", "IntelliJ IDEA", "Docker", "Kubernetes tools", "PostgreSQL", "Firefox"],
                icon: "rocket",
            },
            (Family::Business, Tier::Basic) => PlanSpec {
                name: "Business Basic",
                vcpu: 2,
                ram_gb: 4,
                summary: "Browser and office apps",
                retail_per_hour: "0.20",
                wholesale_per_hour: "0.14",
                kasm_image: "kasmweb/office-basic:1.16.0",
                apps: &["Firefox", "LibreOffice Writer", "LibreOffice Calc"],
                icon: "briefcase",
            },
            (Family::Business, Tier::Pro) => PlanSpec {
                name: "Business Pro",
                vcpu: 4,
                ram_gb: 8,
                summary: "The full office suite",
                retail_per_hour: "0.40",
                wholesale_per_hour: "0.28",
                kasm_image: "kasmweb/office-pro:1.16.0",
                apps: &["Firefox", "LibreOffice", "Thunderbird", "GIMP"],
                icon: "chart",
            },
            (Family::Business, Tier::Enterprise) => PlanSpec {
                name: "Business Enterprise",
                vcpu: 8,
                ram_gb: 16,
                summary: "Custom apps for power users",
                retail_per_hour: "0.80",
                wholesale_per_hour: "0.56",
                kasm_image: "kasmweb/office-enterprise:1.16.0",
                apps: &["Firefox", "LibreOffice", "Thunderbird", "GIMP", "Zoom", "Slack"],
                icon: "building",
            },
        }
    }
}

impl fmt::Display for PlanCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Defaults used when a storefront's catalog is seeded. Prices are text so they parse into exact rates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanSpec {
    pub name: &'static str,
    pub vcpu: u32,
    pub ram_gb: u32,
    pub summary: &'static str,
    pub retail_per_hour: &'static str,
    pub wholesale_per_hour: &'static str,
    pub kasm_image: &'static str,
    /// Preinstalled applications, as the storefront lists them.
    pub apps: &'static [&'static str],
    /// One of [`TEMPLATE_ICONS`].
    pub icon: &'static str,
}

/// The icons a template may show (drawn by the app as inline SVG; no uploads, nothing to sanitise).
pub const TEMPLATE_ICONS: [&str; 6] = ["code", "terminal", "rocket", "briefcase", "chart", "building"];

/// Whether a template can be ordered. Hidden templates keep their running workspaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TemplateStatus {
    Active,
    Hidden,
}

impl TemplateStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            TemplateStatus::Active => "active",
            TemplateStatus::Hidden => "hidden",
        }
    }

    pub fn parse(s: &str) -> Option<TemplateStatus> {
        match s.trim() {
            "active" => Some(TemplateStatus::Active),
            "hidden" => Some(TemplateStatus::Hidden),
            _ => None,
        }
    }
}

/// Reads as its stored string where text is expected (form fields built from a template row).
impl std::ops::Deref for TemplateStatus {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PlanSpec {
    /// The Kasm group that holds this plan's image; customers of the plan are added to it.
    pub fn kasm_group(&self) -> String {
        format!("EZSCALE {}", self.name)
    }
}

/// The longest name a storefront may give a plan, in characters.
pub const MAX_DISPLAY_NAME: usize = 60;
/// The longest description a storefront may give a plan, in characters.
pub const MAX_DESCRIPTION: usize = 300;

/// A storefront's own text for a plan, checked: trimmed, on one line, at most `max` characters; empty means
/// "use the platform's" (`None`). The error says what is allowed.
pub fn own_words(raw: &str, what: &str, max: usize) -> Result<Option<String>, String> {
    let t = raw.trim();
    if t.chars().any(char::is_control) {
        return Err(format!("The {what} is one line of text."));
    }
    if t.chars().count() > max {
        return Err(format!("The {what} is at most {max} characters."));
    }
    Ok((!t.is_empty()).then(|| t.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::super::money::{Currency, Rate};
    use super::*;

    #[test]
    fn own_words_are_one_trimmed_line_within_the_limit_or_the_platforms() {
        assert_eq!(own_words("  Dev Box  ", "name", 60), Ok(Some("Dev Box".to_owned())));
        assert_eq!(own_words("   ", "name", 60), Ok(None));
        assert_eq!(own_words(&"é".repeat(60), "name", 60).map(|o| o.map(|s| s.chars().count())), Ok(Some(60)));
        assert_eq!(own_words(&"é".repeat(61), "name", 60), Err("The name is at most 60 characters.".to_owned()));
        assert_eq!(own_words("a\nb", "description", 300), Err("The description is one line of text.".to_owned()));
    }

    #[test]
    fn every_plan_code_round_trips() {
        for p in PlanCode::ALL {
            assert_eq!(PlanCode::parse(p.as_str()), Ok(p));
        }
        assert_eq!(PlanCode::parse("developer-ultra"), Err(UnknownPlan));
    }

    #[test]
    fn seeded_prices_parse_and_wholesale_is_below_retail() {
        for p in PlanCode::ALL {
            let s = p.spec();
            let retail = Rate::parse(s.retail_per_hour, Currency::USD).map(|r| r.amount_per_hour());
            let wholesale = Rate::parse(s.wholesale_per_hour, Currency::USD).map(|r| r.amount_per_hour());
            assert!(matches!((retail, wholesale), (Ok(r), Ok(w)) if w < r), "{p}");
        }
    }
}
