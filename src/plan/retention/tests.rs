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
        subject: None,
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
fn a_kept_referrers_index_keeps_what_it_lists_and_a_deleted_one_takes_it_along() {
    // OCI 1.1's tag-schema fallback (what ghcr.io gets): the referrers index of an image is
    // tagged `sha256-<image hex>`, and the artifacts it lists (an SBOM) are untagged.
    let hex = |n: u32| format!("{n:064x}");
    let mut kept_referrers = version(4, &[&format!("sha256-{}", hex(2))], 2);
    kept_referrers.children = vec![digest(6)];
    let mut doomed_referrers = version(7, &[&format!("sha256-{}", hex(1))], 1);
    doomed_referrers.children = vec![digest(8)];
    let versions = vec![
        version(1, &["1.0.0"], 1),
        version(2, &["2.0.0"], 2),
        kept_referrers,
        version(6, &[], 2),
        doomed_referrers,
        version(8, &[], 1),
    ];
    let policy = Policy {
        keep: Some(1),
        untagged: true,
        ..Policy::default()
    };
    let plan = plan(&versions, &policy, &facts()).unwrap();
    assert!(
        matches!(decision_of(&plan, 6), Decision::Keep(r) if r.contains(&digest(4))),
        "the SBOM a kept referrers index lists stays: {:?}",
        decision_of(&plan, 6)
    );
    assert!(matches!(decision_of(&plan, 4), Decision::Keep(r) if r.contains("referrer")));
    assert_eq!(
        deleted(&plan),
        vec![digest(1), digest(7), digest(8)],
        "a deleted image's referrers index and what it lists go with it"
    );
    let order: Vec<String> = plan.deletions().map(|v| v.digest.clone()).collect();
    assert!(
        order.iter().position(|d| *d == digest(7)) < order.iter().position(|d| *d == digest(8)),
        "the referrers index goes before what it lists: {order:?}"
    );
}

#[test]
fn asks_only_for_the_manifests_a_decision_needs_and_converges() {
    // Nothing read yet, as GitHub Packages lists versions: tags and dates, no manifests.
    let hex = |n: u32| format!("{n:064x}");
    let unread = |n: u32, tags: &[&str], day: i64| ImageVersion {
        manifest_read: false,
        subject: None,
        ..version(n, tags, day)
    };
    let mut versions = vec![
        unread(1, &["1.0.0"], 1),
        unread(2, &[], 1),
        unread(3, &["2.0.0"], 2),
        unread(4, &[], 2),
        unread(5, &[], 2),
        unread(6, &[&format!("sha256-{}", hex(3))], 2),
        unread(7, &[], 2),
        unread(8, &[], 3),
        unread(9, &[&format!("sha256-{}.sig", hex(1))], 1),
    ];
    // What a registry would answer: 1 is an index of 2; 3 an index of 4 (an image) and 5 (an
    // index of its own, of nothing here); 6 the referrers index of 3, listing the SBOM 7.
    let manifests: BTreeMap<String, Vec<String>> = [
        (1, vec![2]),
        (3, vec![4, 5]),
        (5, vec![]),
        (6, vec![7]),
        (9, vec![]),
    ]
    .into_iter()
    .map(|(n, c)| (digest(n), c.into_iter().map(digest).collect()))
    .collect();
    let policy = Policy {
        keep: Some(1),
        untagged: true,
        ..Policy::default()
    };
    let mut reads = Vec::new();
    let final_plan = loop {
        let p = plan(&versions, &policy, &facts()).unwrap();
        let wanted: Vec<String> = p
            .to_read
            .iter()
            .filter(|d| !reads.contains(*d))
            .cloned()
            .collect();
        if wanted.is_empty() {
            break p;
        }
        for v in versions.iter_mut().filter(|v| wanted.contains(&v.digest)) {
            if let Some(children) = manifests.get(&v.digest) {
                v.children = children.clone();
                v.manifest_read = true;
            }
        }
        reads.extend(wanted);
        assert!(reads.len() <= versions.len(), "it never ends: {reads:?}");
    };
    reads.sort();
    assert_eq!(
        reads,
        vec![digest(3), digest(4), digest(5), digest(6), digest(7)],
        "the kept ones only: not the deleted 1.0.0 nor its signature; no untagged version while \
         a kept manifest is unknown (every untagged one is kept then)"
    );
    // 4 and 7 are images in this registry: no manifest of theirs is known, so they are
    // unreadable here, and every untagged version stays, as it must when a kept manifest is
    // unknown.
    assert!(
        matches!(decision_of(&final_plan, 8), Decision::Keep(r) if r.contains("could not be read"))
    );
    // Once their manifests are known (the caller learns an image from its descriptor), the
    // untagged versions to delete are read too (one may be a referrer by its `subject`), and
    // those nothing kept references go.
    for v in versions
        .iter_mut()
        .filter(|v| [digest(4), digest(7)].contains(&v.digest))
    {
        v.manifest_read = true;
    }
    // The tagged versions to delete first: 1.0.0's index lists 2, an image, which then needs
    // no read of its own (the caller learns it from the descriptor).
    let asks = plan(&versions, &policy, &facts()).unwrap();
    assert_eq!(asks.to_read, vec![digest(1), digest(9)]);
    for v in versions.iter_mut() {
        if let Some(children) = manifests
            .get(&v.digest)
            .filter(|_| [digest(1), digest(9)].contains(&v.digest))
        {
            v.children = children.clone();
            v.manifest_read = true;
        }
        if v.digest == digest(2) {
            v.manifest_read = true;
        }
    }
    // Then the untagged one nothing lists: it could be a referrer by its `subject`.
    let asks = plan(&versions, &policy, &facts()).unwrap();
    assert_eq!(asks.to_read, vec![digest(8)]);
    assert!(asks.kept_unread.is_empty());
    for v in versions.iter_mut().filter(|v| v.digest == digest(8)) {
        v.manifest_read = true;
    }
    let known = plan(&versions, &policy, &facts()).unwrap();
    assert!(known.to_read.is_empty(), "{:?}", known.to_read);
    assert_eq!(
        deleted(&known),
        vec![digest(1), digest(2), digest(8), digest(9)]
    );
    assert!(matches!(decision_of(&known, 7), Decision::Keep(r) if r.contains("referrers index")));
}

#[test]
fn reads_nothing_when_nothing_is_deleted_or_for_loosely_kept_untagged_versions() {
    let unread = |n: u32, tags: &[&str]| ImageVersion {
        manifest_read: false,
        subject: None,
        ..version(n, tags, 1)
    };
    let versions = vec![unread(1, &["1.0.0"]), unread(2, &[]), unread(3, &["0.9.0"])];
    let keep_all = Policy {
        keep: Some(5),
        ..Policy::default()
    };
    let plan_all = plan(&versions, &keep_all, &facts()).unwrap();
    assert_eq!(plan_all.to_read, Vec::<String>::new(), "nothing to protect");
    assert!(deleted(&plan_all).is_empty());
    let tagged_only = Policy {
        keep: Some(1),
        ..Policy::default()
    };
    let p = plan(&versions, &tagged_only, &facts()).unwrap();
    assert_eq!(
        p.to_read,
        vec![digest(1)],
        "the kept tagged version, not the untagged one `untagged: false` keeps"
    );
    assert_eq!(deleted(&p), vec![digest(3)]);
}

#[test]
fn a_referrer_of_a_kept_untagged_image_is_kept_and_read() {
    // A signature of an untagged image kept by `untagged: false`: kept with it, and, tagged, its
    // manifest matters (it might list something).
    let hex = |n: u32| format!("{n:064x}");
    let mut sig = version(3, &[&format!("sha256-{}.sig", hex(2))], 1);
    sig.manifest_read = false;
    let versions = vec![
        version(1, &["1.0.0"], 1),
        version(2, &[], 1),
        sig,
        version(4, &["0.1.0"], 1),
    ];
    let policy = Policy {
        keep: Some(1),
        ..Policy::default()
    };
    let p = plan(&versions, &policy, &facts()).unwrap();
    assert!(matches!(decision_of(&p, 3), Decision::Keep(r) if r.contains("referrer")));
    assert_eq!(p.to_read, vec![digest(3)]);
    assert_eq!(deleted(&p), vec![digest(4)]);
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

/// `tag-filter` is matched in time linear in the pattern and the tag (a recursive matcher took
/// seconds for 24 stars and never ended for a few more): the worst cases a tag allows, at once.
#[test]
fn tag_filter_matching_does_not_backtrack_exponentially() {
    let tag = "a".repeat(128);
    for stars in [24, 64, 127] {
        let pattern = format!("{}x", "*".repeat(stars));
        assert!(!glob_match(&pattern, &tag), "{stars} stars");
        let pattern = format!("{}a", "*a".repeat(stars / 2));
        assert!(glob_match(&pattern, &tag), "{stars} `*a`");
    }
    let policy = Policy {
        tag_filter: vec![format!("{}x", "*?".repeat(40))],
        ..Policy::default()
    };
    assert!(!policy.in_scope(&[tag]));
}

/// A referrer by `subject` (an untagged artifact manifest, as ghcr.io lists an SBOM attached
/// without a fallback index): kept with a kept subject, deleted with a deleted one, kept when its
/// subject is not in the repository; never an orphan to `untagged`.
#[test]
fn untagged_referrers_go_with_their_subject() {
    let referrer = |n: u32, subject: u32| ImageVersion {
        subject: Some(digest(subject)),
        ..version(n, &[], 1)
    };
    let versions = vec![
        version(1, &["1.0.0"], 1),
        version(2, &["2.0.0"], 2),
        referrer(3, 1),
        referrer(4, 2),
        referrer(5, 99),
        version(6, &[], 1),
    ];
    for untagged in [true, false] {
        let policy = Policy {
            keep: Some(1),
            untagged,
            ..Policy::default()
        };
        let judged = plan(&versions, &policy, &facts()).unwrap();
        assert!(judged.to_read.is_empty(), "{:?}", judged.to_read);
        assert!(
            matches!(decision_of(&judged, 3), Decision::Delete(r) if r.contains("a referrer of deleted")),
            "{:?}",
            decision_of(&judged, 3)
        );
        assert!(
            matches!(decision_of(&judged, 4), Decision::Keep(r) if r.contains("a referrer (signature, attestation) of kept")),
            "{:?}",
            decision_of(&judged, 4)
        );
        assert!(
            matches!(decision_of(&judged, 5), Decision::Keep(r) if r.contains("not in the repository")),
            "{:?}",
            decision_of(&judged, 5)
        );
        assert_eq!(
            matches!(decision_of(&judged, 6), Decision::Delete(_)),
            untagged,
            "a plain untagged version goes only with `untagged`"
        );
    }
}
