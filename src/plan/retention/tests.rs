use super::*;

fn digest(n: u32) -> String {
    format!("sha256:{n:064x}")
}

fn day(d: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + d * 86_400).unwrap()
}

fn version(n: u32, tags: &[&str], created_day: i64) -> ImageVersion {
    ImageVersion {
        id: format!("{n}"),
        digest: digest(n),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        created: Some(day(created_day)),
        children: vec![],
        platforms: vec![],
        manifest_read: true,
    }
}

fn decision_of(plan: &RetentionPlan, n: u32) -> &Decision {
    &plan
        .verdicts
        .iter()
        .find(|v| v.digest == digest(n))
        .unwrap()
        .decision
}

fn deleted(plan: &RetentionPlan) -> Vec<String> {
    let mut d: Vec<String> = plan.deletions().map(|v| v.digest.clone()).collect();
    d.sort();
    d
}

fn facts() -> RunFacts {
    RunFacts {
        now: Some(day(100)),
        ..RunFacts::default()
    }
}

#[test]
fn keeps_the_most_recent_by_semver_then_date() {
    let versions = vec![
        version(1, &["1.0.0"], 1),
        version(2, &["1.1.0"], 2),
        version(3, &["2.0.0"], 3),
        // Pushed later, but an older version: semver order wins.
        version(4, &["1.0.1"], 9),
        version(5, &["main"], 10),
    ];
    let policy = Policy {
        keep: Some(2),
        ..Policy::default()
    };
    let plan = plan(&versions, &policy, &facts()).unwrap();
    assert_eq!(deleted(&plan), vec![digest(1), digest(4), digest(5)]);
    assert!(matches!(decision_of(&plan, 3), Decision::Keep(_)));
    assert!(matches!(decision_of(&plan, 2), Decision::Keep(_)));
}

#[test]
fn keep_majors_keeps_the_newest_of_each_line() {
    let versions = vec![
        version(1, &["1.0.0"], 1),
        version(2, &["1.4.2"], 2),
        version(3, &["2.0.0"], 3),
        version(4, &["3.0.0"], 4),
    ];
    let policy = Policy {
        keep: Some(1),
        keep_majors: true,
        ..Policy::default()
    };
    let plan = plan(&versions, &policy, &facts()).unwrap();
    assert_eq!(deleted(&plan), vec![digest(1)]);
    assert_eq!(
        decision_of(&plan, 2),
        &Decision::Keep("the newest of its major line (`keep-majors`)".into())
    );
}

#[test]
fn older_than_spares_recent_and_undated_versions() {
    let mut undated = version(3, &["0.3.0"], 0);
    undated.created = None;
    let versions = vec![
        version(1, &["0.1.0"], 10),
        version(2, &["0.2.0"], 95),
        undated,
        version(4, &["0.4.0"], 99),
    ];
    let policy = Policy {
        older_than: Some(parse_age("30d").unwrap()),
        ..Policy::default()
    };
    let plan = plan(&versions, &policy, &facts()).unwrap();
    assert_eq!(deleted(&plan), vec![digest(1)]);
    assert_eq!(
        decision_of(&plan, 3),
        &Decision::Keep("its age is unknown".into())
    );
}

#[test]
fn tag_filter_scopes_what_is_deleted() {
    let versions = vec![
        version(1, &["pr-1"], 1),
        version(2, &["pr-2"], 2),
        version(3, &["pr-3", "keepme"], 3),
        version(4, &["1.0.0"], 4),
        version(5, &["1.1.0"], 5),
    ];
    let policy = Policy {
        keep: Some(1),
        tag_filter: vec!["pr-*".into(), "!keep*".into()],
        ..Policy::default()
    };
    let plan = plan(&versions, &policy, &facts()).unwrap();
    assert_eq!(
        deleted(&plan),
        vec![digest(1)],
        "pr-2 is the one kept, pr-3 is excluded"
    );
    assert_eq!(
        decision_of(&plan, 4),
        &Decision::Keep("its tags are outside `tag-filter`".into())
    );
}

#[test]
fn never_deletes_the_children_of_a_kept_index() {
    let mut index = version(10, &["2.0.0"], 50);
    index.children = vec![digest(11), digest(12), digest(13)];
    let mut old_index = version(20, &["1.0.0"], 10);
    old_index.children = vec![digest(21), digest(22)];
    let versions = vec![
        index,
        version(11, &[], 50),
        version(12, &[], 50),
        version(13, &[], 50),
        old_index,
        version(21, &[], 10),
        version(22, &[], 10),
        version(30, &[], 5),
    ];
    let policy = Policy {
        keep: Some(1),
        untagged: true,
        ..Policy::default()
    };
    let plan = plan(&versions, &policy, &facts()).unwrap();
    assert_eq!(
        deleted(&plan),
        vec![digest(20), digest(21), digest(22), digest(30)]
    );
    for child in [11, 12, 13] {
        assert!(
            matches!(decision_of(&plan, child), Decision::Keep(r) if r.contains("of kept")),
            "{child}"
        );
    }
    let order: Vec<String> = plan.deletions().map(|v| v.digest.clone()).collect();
    assert_eq!(
        order[0],
        digest(20),
        "the index goes before its children: {order:?}"
    );
}

#[test]
fn a_kept_image_keeps_its_referrers_and_a_deleted_one_loses_them() {
    let hex = |n: u32| format!("{n:064x}");
    let versions = vec![
        version(1, &["1.0.0"], 1),
        version(2, &["2.0.0"], 2),
        version(3, &[&format!("sha256-{}.sig", hex(2))], 2),
        version(4, &[&format!("sha256-{}", hex(2))], 2),
        version(5, &[&format!("sha256-{}.att", hex(1))], 1),
    ];
    let policy = Policy {
        keep: Some(1),
        ..Policy::default()
    };
    let plan = plan(&versions, &policy, &facts()).unwrap();
    assert_eq!(deleted(&plan), vec![digest(1), digest(5)]);
    assert!(matches!(decision_of(&plan, 3), Decision::Keep(r) if r.contains("referrer")));
    assert!(matches!(decision_of(&plan, 4), Decision::Keep(r) if r.contains("referrer")));
}

#[test]
fn latest_floating_tags_and_this_runs_push_are_never_deleted() {
    let versions = vec![
        version(1, &["1.0.0", "latest"], 1),
        version(2, &["0.9.0", "0"], 1),
        version(3, &["0.8.0", "v0.8"], 1),
        version(4, &["0.7.0"], 1),
        version(5, &["0.6.0"], 1),
        version(6, &[], 1),
    ];
    let mut run = facts();
    run.pushed.insert(digest(5));
    run.pushed.insert(digest(6));
    let policy = Policy {
        older_than: Some(parse_age("1d").unwrap()),
        untagged: true,
        ..Policy::default()
    };
    let plan = plan(&versions, &policy, &run).unwrap();
    assert_eq!(deleted(&plan), vec![digest(4)]);
    assert_eq!(
        decision_of(&plan, 5),
        &Decision::Keep("pushed by this run".into())
    );
}

#[test]
fn an_unreadable_kept_manifest_keeps_every_untagged_version() {
    let mut unreadable = version(1, &["1.0.0"], 1);
    unreadable.manifest_read = false;
    let versions = vec![unreadable, version(2, &[], 1), version(3, &["0.1.0"], 1)];
    let policy = Policy {
        keep: Some(1),
        untagged: true,
        ..Policy::default()
    };
    let plan = plan(&versions, &policy, &facts()).unwrap();
    assert_eq!(deleted(&plan), vec![digest(3)]);
    assert!(matches!(decision_of(&plan, 2), Decision::Keep(r) if r.contains("could not be read")));
}

#[test]
fn a_replaced_digest_goes_when_nothing_references_it() {
    let mut index = version(1, &["1.0.0"], 1);
    index.children = vec![digest(3)];
    let versions = vec![index, version(2, &[], 1), version(3, &[], 1)];
    let mut run = facts();
    run.replaced.insert(digest(2));
    run.replaced.insert(digest(3));
    let plan = plan(&versions, &Policy::default(), &run).unwrap();
    assert_eq!(
        deleted(&plan),
        vec![digest(2)],
        "3 is a child of a kept index"
    );
}

#[test]
fn refuses_what_would_delete_everything() {
    assert_eq!(
        plan(
            &[version(1, &["1.0.0"], 1)],
            &Policy {
                keep: Some(0),
                ..Policy::default()
            },
            &facts()
        ),
        Err(PolicyError::KeepZero)
    );
    let versions = vec![version(1, &["pr-1"], 1), version(2, &["pr-2"], 1)];
    let everything = Policy {
        older_than: Some(parse_age("1d").unwrap()),
        ..Policy::default()
    };
    assert_eq!(
        plan(&versions, &everything, &facts()),
        Err(PolicyError::DeletesEverything { count: 2 })
    );
}

#[test]
fn parses_ages_globs_and_tag_kinds() {
    assert_eq!(parse_age("30d").unwrap(), SignedDuration::from_hours(720));
    assert_eq!(parse_age("2w").unwrap(), SignedDuration::from_hours(336));
    for bad in ["", "d", "30", "30y", "-3d"] {
        assert!(parse_age(bad).is_err(), "{bad}");
    }
    assert!(glob_match("pr-*", "pr-12"));
    assert!(glob_match("v?.*", "v1.2"));
    assert!(!glob_match("pr-*", "main"));
    assert!(glob_match("*", ""));
    for t in ["latest", "1", "v2", "1.2", "v10.4"] {
        assert!(is_floating(t), "{t}");
    }
    for t in ["1.2.3", "v1.2.3-rc.1", "main", "1.", "sha-abc"] {
        assert!(!is_floating(t), "{t}");
    }
    let hex = "ab".repeat(32);
    assert_eq!(
        referrer_subject(&format!("sha256-{hex}.sig")),
        Some(format!("sha256:{hex}"))
    );
    assert_eq!(referrer_subject("sha256-short"), None);
}
