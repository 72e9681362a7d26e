//! The preflight's checklist (`tagship check`, `check-only: true`, and the dry run after its
//! plan): what a real run depends on, each item passed, failed (blocking), warned about (what
//! cannot be known without writing) or skipped with the reason. Pure: the probes that fill it
//! are at the edge (`run::check`), its text and Markdown in `output::checklist`.

use serde::Serialize;

use super::context::ForgeKind;

/// One thing a run depends on, and what the preflight found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// What was checked: `settings`, `source`, `registry 127.0.0.1:5000/app`…
    pub check: String,
    #[serde(flatten)]
    pub status: Status,
    /// What was found (a skipped item: why it was not checked).
    pub found: String,
    /// What to do about it (a failed or warned item).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// How an item came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Status {
    Pass,
    /// Blocking: a real run would stop on it.
    Fail {
        cause: Cause,
        /// A missing write permission: a pull request's dry run runs with the event's token,
        /// which GitHub makes read-only for a fork, so there it warns instead of failing.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        permission: bool,
    },
    /// Not blocking, or not knowable without writing: look at it.
    Warning,
    Skipped,
}

/// Why a blocking item failed: the set-up (settings, permissions, the source: fix the workflow)
/// or the world around it (a registry or GitHub that did not answer: a re-run may help).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    Setup,
    Service,
}

impl Item {
    pub fn pass(check: impl Into<String>, found: impl Into<String>) -> Item {
        Item::new(check, Status::Pass, found, None)
    }

    /// A blocking problem of the set-up.
    pub fn fail(
        check: impl Into<String>,
        found: impl Into<String>,
        fix: impl Into<String>,
    ) -> Item {
        Item::blocking(check, Cause::Setup, false, found, fix)
    }

    /// A blocking problem: the credentials may not do what the run does.
    pub fn denied(
        check: impl Into<String>,
        found: impl Into<String>,
        fix: impl Into<String>,
    ) -> Item {
        Item::blocking(check, Cause::Setup, true, found, fix)
    }

    /// A blocking problem of a service (unreachable, failing).
    pub fn unavailable(
        check: impl Into<String>,
        found: impl Into<String>,
        fix: impl Into<String>,
    ) -> Item {
        Item::blocking(check, Cause::Service, false, found, fix)
    }

    fn blocking(
        check: impl Into<String>,
        cause: Cause,
        permission: bool,
        found: impl Into<String>,
        fix: impl Into<String>,
    ) -> Item {
        let status = Status::Fail { cause, permission };
        Item::new(check, status, found, Some(fix.into()))
    }

    pub fn warning(
        check: impl Into<String>,
        found: impl Into<String>,
        fix: impl Into<String>,
    ) -> Item {
        Item::new(check, Status::Warning, found, Some(fix.into()))
    }

    pub fn skipped(check: impl Into<String>, why: impl Into<String>) -> Item {
        Item::new(check, Status::Skipped, why, None)
    }

    fn new(
        check: impl Into<String>,
        status: Status,
        found: impl Into<String>,
        fix: Option<String>,
    ) -> Item {
        Item {
            check: check.into(),
            status,
            found: found.into(),
            fix,
        }
    }

    pub fn is_blocking(&self) -> bool {
        matches!(self.status, Status::Fail { .. })
    }
}

/// Every item, in the order they were checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Checklist {
    /// No item blocks.
    pub ok: bool,
    pub items: Vec<Item>,
}

impl Checklist {
    pub fn new(items: Vec<Item>) -> Checklist {
        Checklist {
            ok: !items.iter().any(Item::is_blocking),
            items,
        }
    }

    /// This checklist with what was found and each fix put in other words (those of the
    /// interface the run was started from).
    pub fn reworded(self, words: impl Fn(&str) -> String) -> Checklist {
        let items = self
            .items
            .into_iter()
            .map(|item| Item {
                found: words(&item.found),
                fix: item.fix.as_deref().map(&words),
                ..item
            })
            .collect();
        Checklist::new(items)
    }

    /// The blocking items.
    pub fn blocking(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.is_blocking())
    }

    /// This checklist as the dry run of a pull request (`event`: `pull_request`, or
    /// `pull_request_target`; a GitLab merge request's is `pull_request` too) judges it: a
    /// missing write permission warns, with the reason added to what was found, since the
    /// token of such a run may not write by the forge's design while the run after the merge
    /// has what it needs. Not on `pull_request_target`, whose token is the base repository's
    /// and may write: what it lacks, the run after the merge lacks too.
    pub fn for_pull_request(self, forge: ForgeKind, event: &str) -> Checklist {
        if event == "pull_request_target" {
            return self;
        }
        let why = match forge {
            ForgeKind::GitHub => {
                "a warning on a pull request, whose token GitHub makes read-only for a fork; the run after the merge needs it"
            }
            ForgeKind::GitLab => {
                "a warning on a merge request, whose pipeline gets no protected CI/CD variables (unless its branch is protected) and, from a fork, runs in the fork with the fork's job token; the run after the merge needs it"
            }
        };
        let items = self
            .items
            .into_iter()
            .map(|item| match item.status {
                Status::Fail {
                    permission: true, ..
                } => Item {
                    status: Status::Warning,
                    found: format!("{} ({why})", item.found),
                    ..item
                },
                _ => item,
            })
            .collect();
        Checklist::new(items)
    }

    /// The error that stops the run when an item blocks: the first one's cause and every name.
    pub fn gate(&self) -> Result<(), CheckFailed> {
        let mut blocking = self.blocking();
        let Some(first) = blocking.next() else {
            return Ok(());
        };
        let cause = match first.status {
            Status::Fail { cause, .. } => cause,
            _ => Cause::Setup,
        };
        Err(CheckFailed {
            checks: std::iter::once(first)
                .chain(blocking)
                .map(|i| i.check.clone())
                .collect(),
            first: first.found.clone(),
            cause,
        })
    }
}

/// The preflight found blocking problems (each one is in the checklist printed before).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the preflight found {} blocking problem{}: {}. The first: {first}. The checklist above says how to fix each",
    checks.len(),
    if checks.len() == 1 { "" } else { "s" },
    checks.join(", ")
)]
pub struct CheckFailed {
    pub checks: Vec<String>,
    pub first: String,
    pub cause: Cause,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checklist {
        Checklist::new(vec![
            Item::pass("settings", "read"),
            Item::unavailable("registry r/a", "cannot reach r", "check the host"),
            Item::denied("registry r/b", "may not push", "grant push"),
            Item::warning("prune r/a", "unknown", "look"),
            Item::skipped("git tags", "`git-tags` is off"),
        ])
    }

    #[test]
    fn the_first_blocking_item_decides_the_cause_and_every_one_is_named() {
        let list = sample();
        assert!(!list.ok);
        let failed = list.gate().unwrap_err();
        assert_eq!(failed.cause, Cause::Service);
        assert_eq!(failed.checks, ["registry r/a", "registry r/b"]);
        assert!(failed.to_string().starts_with(
            "the preflight found 2 blocking problems: registry r/a, registry r/b. The first: cannot reach r."
        ));
        let passing = Checklist::new(vec![Item::pass("settings", "read")]);
        assert!(passing.ok && passing.gate().is_ok());
    }

    #[test]
    fn a_pull_request_warns_of_missing_write_permissions_only() {
        let list = sample().for_pull_request(ForgeKind::GitHub, "pull_request");
        assert_eq!(list.items[2].status, Status::Warning);
        assert!(
            list.items[2]
                .found
                .starts_with("may not push (a warning on a pull request")
        );
        assert!(
            list.items[2]
                .found
                .contains("GitHub makes read-only for a fork")
        );
        assert!(
            list.items[1].is_blocking(),
            "an unreachable registry still blocks"
        );
        assert!(!list.ok);
    }

    #[test]
    fn a_merge_request_warns_in_gitlab_words() {
        let list = sample().for_pull_request(ForgeKind::GitLab, "pull_request");
        let found = &list.items[2].found;
        assert_eq!(list.items[2].status, Status::Warning);
        assert!(found.contains("a warning on a merge request"), "{found}");
        assert!(found.contains("protected CI/CD variables"), "{found}");
        assert!(!found.contains("GitHub"), "{found}");
    }

    #[test]
    fn pull_request_target_keeps_a_missing_permission_blocking() {
        let list = sample().for_pull_request(ForgeKind::GitHub, "pull_request_target");
        assert!(list.items[2].is_blocking(), "its token may write");
        assert_eq!(list.items[2].found, "may not push");
        assert_eq!(list.blocking().count(), 2);
    }

    #[test]
    fn serialises_each_status_with_its_fields() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["ok"], false);
        assert_eq!(
            json["items"][2],
            serde_json::json!({"check": "registry r/b", "status": "fail", "cause": "setup",
                "permission": true, "found": "may not push", "fix": "grant push"})
        );
        assert_eq!(
            json["items"][4],
            serde_json::json!({"check": "git tags", "status": "skipped", "found": "`git-tags` is off"})
        );
    }
}
