//! Planning speed: a tag push with tagship's defaults, and with a long metadata-action rule set.
//! Run with `cargo bench --bench plan`.
// Tests, benches and examples set up their world themselves: env and whole-file reads are theirs.
#![allow(clippy::disallowed_methods)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;

use tagship::ci::inputs::split_lines;
use tagship::ci::{ContextSettings, github};
use tagship::plan::{self, PlanInputs, Rules};

fn bench_plan(c: &mut Criterion) {
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/events");
    let payload = std::fs::read_to_string(events.join("push-tag.json"))
        .expect("../shared/events/push-tag.json");
    let env: BTreeMap<String, String> = [
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REF", "refs/tags/v1.1.1"),
        ("GITHUB_SHA", "860c1904a1ce19322e91ac35af1ab07466440c37"),
        ("GITHUB_REPOSITORY", "docker/test-docker-action"),
        ("GITHUB_RUN_NUMBER", "21"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let settings = ContextSettings {
        now: jiff::Timestamp::from_second(1_578_616_200).unwrap_or_default(),
        short_sha_length: 7,
        pr_head_sha: false,
    };
    let many_rules = "type=schedule\ntype=ref,event=branch\ntype=ref,event=pr\ntype=semver,pattern={{version}}\n\
        type=semver,pattern={{major}}.{{minor}}\ntype=semver,pattern={{major}}\ntype=match,pattern=v(\\d+),group=1\n\
        type=raw,value={{date 'YYYYMMDD'}}-{{sha}}\ntype=sha,format=long\ntype=build";

    c.bench_function("context from payload", |b| {
        b.iter(|| {
            github::context(
                black_box(&env),
                black_box(&payload),
                "event.json",
                &settings,
            )
        })
    });
    let ctx = github::context(&env, &payload, "event.json", &settings).expect("context");
    let defaults = Rules::parse(&PlanInputs::default()).expect("rules");
    c.bench_function("plan tag push, default rules", |b| {
        b.iter(|| plan::plan(black_box(&ctx), &defaults))
    });
    let inputs = PlanInputs {
        images: split_lines("ghcr.io/octo/app\ndocker.io/octo/app"),
        tags: split_lines(many_rules),
        labels: split_lines("maintainer=octo\norg.opencontainers.image.vendor=Octo"),
        ..PlanInputs::default()
    };
    c.bench_function("parse 10 rules", |b| {
        b.iter(|| Rules::parse(black_box(&inputs)))
    });
    let rules = Rules::parse(&inputs).expect("rules");
    c.bench_function("plan tag push, 10 rules, 2 images", |b| {
        b.iter(|| plan::plan(black_box(&ctx), &rules))
    });
}

criterion_group!(benches, bench_plan);
criterion_main!(benches);
