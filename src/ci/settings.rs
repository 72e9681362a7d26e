//! Settings, read once at the edge: one typed [`Settings`] per run, parsed from the settings as
//! given ([`Inputs`]): the action's `INPUT_*` inputs on GitHub Actions; elsewhere `TAGSHIP_*`
//! variables over `.tagship.yml`, under a subcommand's flags. Every file a setting names
//! (`ca-file`, the notes template) is read here; secrets are wrapped here and masked as they are
//! read; the GitHub token's fallback (`github-token`, else `GITHUB_TOKEN`) is decided once, for
//! ghcr.io and GitHub's API alike, and so is GitLab's (`gitlab-token`, else the job's
//! `CI_JOB_TOKEN`) in a GitLab job.

use std::collections::BTreeMap;
use std::path::Path;

use super::inputs::{CommandLine, Inputs, Origin, Origins};
use super::{Environment, Platform, registry_logins, settings_file};
use crate::error::Error;
use crate::forge;
use crate::forge::gitlab::TokenKind;
use crate::http::retry::RetryPolicy;
use crate::output::actions::add_mask;
use crate::output::log::Style;
use crate::plan::action_file::ActionFile;
use crate::plan::attach::{self, AttachEntry};
use crate::plan::hub_description::{DescriptionIntent, TooLong};
use crate::plan::notes;
use crate::plan::publish::{OnConflict, PushMode};
use crate::plan::release::{Changelog, ReleaseMode};
use crate::plan::retention::{self as policy, Policy};
use crate::plan::scan;
use crate::plan::{InputError, InputLine, PlanInputs};
use crate::publish::{PublishError, PublishSettings};
use crate::registry::client::ClientSettings;
use crate::registry::credentials::Credentials;
use crate::registry::source::{self, SourceSpec};
use crate::release::{ReleaseError, ReleaseSettings};
use crate::retention::{ForgeRegistries, PackagesAccess, RetentionError, RetentionSettings};
use crate::secret::Secret;

/// Every setting of a run, read and checked once, before anything is contacted.
pub struct Settings {
    /// The metadata's rules: images, tags, flavor, labels, annotations.
    pub metadata: PlanInputs,
    /// `sep-tags`, `sep-labels`, `sep-annotations`.
    pub separators: [String; 3],
    pub push: PushMode,
    /// `check-only`: run the preflight's checklist and nothing else.
    pub check_only: bool,
    /// The source, conflicts, concurrency, credentials and TLS of the registries.
    pub registry: PublishSettings,
    pub release: ReleaseSettings,
    pub retention: RetentionSettings,
    /// What to attach to the pushed image (`attach`).
    pub attach: AttachSettings,
    /// The vulnerability gate: `scan-report`, `fail-on-severity`.
    pub scan: ScanSettings,
    /// `action-file`: the action's `action.yml`, read, whose image a release must push.
    pub action_file: Option<ActionFile>,
    /// `hub-description`, `hub-short-description`, `hub-description-too-long`: a release's
    /// Docker Hub descriptions.
    pub hub_descriptions: DescriptionIntent,
    /// On GitLab, the dotenv file the outputs go to (`TAGSHIP_DOTENV`, `--dotenv`; relative to
    /// the working directory).
    pub dotenv: std::path::PathBuf,
    /// Where each setting given came from (the others have their defaults): errors name a
    /// setting as it was given, and `tagship plan` lists them.
    pub origins: Origins,
}

/// The files to attach to the image as OCI referrers.
#[derive(Debug, Clone, Default)]
pub struct AttachSettings {
    pub files: Vec<AttachFile>,
    /// `tagship attach IMAGE@DIGEST`: the manifest to attach to, where no push names one.
    pub subject: Option<String>,
    /// `carry-referrers`: an image copied from a registry (`docker://`, `merge`) takes what is
    /// attached to it there along.
    pub carry: bool,
}

/// The scan reports, read and parsed, the OpenVEX documents among the `attach` files, and the
/// severity that stops the push.
#[derive(Debug, Clone, Default)]
pub struct ScanSettings {
    pub reports: Vec<scan::Report>,
    pub vex: Vec<scan::Vex>,
    pub threshold: scan::Threshold,
}

/// One `attach` entry and its file, read.
#[derive(Debug, Clone)]
pub struct AttachFile {
    pub entry: AttachEntry,
    /// Where it was read: relative paths from the workspace, or from the working directory when
    /// typed on the command line.
    pub path: std::path::PathBuf,
    pub bytes: bytes::Bytes,
    /// What it is, when the settings know (a scan report's format).
    pub format: Option<&'static str>,
}

impl AttachFile {
    /// Reads the file of `entry` (at most [`crate::file::MAX_ATTACHMENT`]) from `base`.
    fn read(entry: AttachEntry, base: &Path) -> Result<AttachFile, InputError> {
        let path = base.join(&entry.path);
        let fail = |problem: String| attach_error("attach", &entry, problem);
        let bytes = crate::file::read_at_most(&path, crate::file::MAX_ATTACHMENT)
            .map_err(|e| fail(format!("cannot read {} ({e})", path.display())))?;
        if bytes.is_empty() {
            return Err(fail(format!(
                "{} is empty: there is nothing to attach",
                path.display()
            )));
        }
        Ok(AttachFile {
            entry,
            path,
            bytes: bytes.into(),
            format: None,
        })
    }

    /// What is wrong with this file, as its `attach` line says it.
    fn error(&self, problem: String) -> InputError {
        attach_error("attach", &self.entry, problem)
    }
}

fn attach_error(input: &str, entry: &AttachEntry, problem: String) -> InputError {
    InputError {
        input: input.into(),
        at: Some(entry.line.clone()),
        value: None,
        problem,
    }
}

/// Reads and parses the scan report `line` names (at most [`crate::file::MAX_SCAN_REPORT`]),
/// from `base`; the report, and the file to attach as a referrer of its format.
fn read_scan_report(
    line: InputLine,
    base: &Path,
) -> Result<(scan::Report, AttachFile), InputError> {
    let name = line.text.trim().to_string();
    let path = base.join(&name);
    let entry = AttachEntry {
        line,
        path: name.clone(),
        kind: Some(attach::ArtifactKind::Scan),
        artifact_type: None,
        platform: None,
    };
    let bytes = crate::file::read_at_most(&path, crate::file::MAX_SCAN_REPORT).map_err(|e| {
        attach_error(
            "scan-report",
            &entry,
            format!("cannot read {} ({e})", path.display()),
        )
    })?;
    let report = scan::parse_report(&name, &bytes)
        .map_err(|e| attach_error("scan-report", &entry, e.to_string()))?;
    let entry = AttachEntry {
        artifact_type: Some(report.format.artifact_type().to_string()),
        ..entry
    };
    let format = Some(report.format.name());
    Ok((
        report,
        AttachFile {
            entry,
            path,
            bytes: bytes.into(),
            format,
        },
    ))
}

/// How a run reaches the registries and GitHub, and what it proves itself with.
pub struct Connection {
    /// Registries that may be reached over plain HTTP (loopback ones always may).
    pub insecure_hosts: Vec<String>,
    /// The `ca-file` CA.
    pub ca_pem: Option<Vec<u8>>,
    pub username: String,
    pub password: Secret,
    /// The GitHub token: `github-token`, else `GITHUB_TOKEN`.
    pub token: Secret,
    /// The `gitlab-token` setting: a project or personal access token for GitLab's API.
    pub gitlab_token: Secret,
}

impl Connection {
    /// Reads the `ca-file` (`ca_file`, as typed) and masks the secrets (`in_actions`: with
    /// `::add-mask::`, the first thing a run prints).
    pub fn read(
        ca_file: Option<&str>,
        insecure_hosts: Vec<String>,
        username: String,
        password: Secret,
        token: Secret,
        gitlab_token: Secret,
        in_actions: bool,
    ) -> Result<Connection, InputError> {
        add_mask(&password, in_actions);
        add_mask(&token, in_actions);
        add_mask(&gitlab_token, in_actions);
        if !username.is_empty() && !password.is_empty() {
            // And the `Authorization: Basic` value they make, which a registry may echo back.
            let basic = crate::registry::client::basic_value(&username, password.expose());
            add_mask(&Secret::new(basic), in_actions);
        }
        let ca_pem = match ca_file.map(str::trim).filter(|p| !p.is_empty()) {
            None => None,
            Some(path) => Some(
                crate::file::read_at_most(Path::new(path), crate::file::MAX_CA_FILE).map_err(
                    |e| {
                        InputError::value(
                            "ca-file",
                            path,
                            format!("cannot read it ({e}); give the path of a PEM CA certificate"),
                        )
                    },
                )?,
            ),
        };
        Ok(Connection {
            insecure_hosts,
            ca_pem,
            username,
            password,
            token,
            gitlab_token,
        })
    }
}

/// The GitHub token, decided once: `input` (the `github-token` input), else `GITHUB_TOKEN` (a
/// terminal's, or a workflow step's `env:`).
fn github_token(input: &str, vars: &BTreeMap<String, String>) -> Secret {
    let input = input.trim();
    let token = if input.is_empty() {
        vars.get("GITHUB_TOKEN").map_or("", |t| t.trim())
    } else {
        input
    };
    Secret::new(token)
}

/// GitLab's API as a GitLab job reaches it: `CI_API_V4_URL`, the project (`CI_PROJECT_ID`, else
/// `CI_PROJECT_PATH`), and the token: `gitlab-token` (a project or personal access token, which
/// the Tags API takes), else the job's own `CI_JOB_TOKEN` (which it does not).
fn gitlab_access(
    vars: &BTreeMap<String, String>,
    gitlab_token: Secret,
    ca_pem: Option<Vec<u8>>,
) -> forge::gitlab::Access {
    let var = |name: &str| vars.get(name).map_or("", |v| v.trim());
    let (token, token_kind) = if gitlab_token.is_empty() {
        (Secret::new(var("CI_JOB_TOKEN")), TokenKind::Job)
    } else {
        (gitlab_token, TokenKind::Private)
    };
    let api_url = match (var("CI_API_V4_URL"), var("CI_SERVER_URL")) {
        ("", "") => "https://gitlab.com/api/v4".to_string(),
        ("", server) => format!("{}/api/v4", server.trim_end_matches('/')),
        (api, _) => api.to_string(),
    };
    let project = match var("CI_PROJECT_ID") {
        "" => var("CI_PROJECT_PATH"),
        id => id,
    };
    forge::gitlab::Access {
        token,
        token_kind,
        api_url,
        project: project.to_string(),
        ca_pem,
    }
}

impl Settings {
    /// The settings of `tagship action`. On GitHub Actions: its `INPUT_*` inputs, with the names
    /// of those given that tagship does not read (a typo, most likely). Elsewhere (a GitLab job,
    /// a terminal): `TAGSHIP_*` variables over `.tagship.yml`.
    pub fn action(env: &Environment) -> Result<(Settings, Vec<String>), Error> {
        match env.platform() {
            Platform::GitHub => {
                let inputs = Inputs::action(&env.vars);
                let unknown = inputs.unknown().into_iter().map(str::to_string).collect();
                Ok((Settings::read(&inputs, env)?, unknown))
            }
            Platform::GitLab | Platform::Local => {
                Ok((Settings::read(&outside_the_action(env)?, env)?, Vec::new()))
            }
        }
    }

    /// Whether `check-only` is given as true where this platform's `tagship action` reads it
    /// first (its input on GitHub, else its variable): for a run whose settings did not parse,
    /// so that the checklist can say which.
    pub fn check_only_given(env: &Environment) -> bool {
        let name = match env.platform() {
            Platform::GitHub => "INPUT_CHECK-ONLY".to_string(),
            Platform::GitLab | Platform::Local => super::inputs::variable_name("check-only"),
        };
        env.vars
            .get(&name)
            .is_some_and(|v| matches!(v.trim(), "true" | "True" | "TRUE"))
    }

    /// A subcommand's settings: what its command line says, over `TAGSHIP_*` variables over
    /// `.tagship.yml`. `INPUT_*` count for nothing here.
    pub fn command_line(env: &Environment, line: CommandLine) -> Result<Settings, Error> {
        let given = line.given.clone();
        let mut settings = Settings::read(&line.over(outside_the_action(env)?), env)?;
        for (input, flag) in given {
            settings
                .origins
                .insert(input.to_string(), Origin::CommandLine(flag));
        }
        Ok(settings)
    }

    /// The settings `inputs` give, with where each came from; an error names the setting as it
    /// was given.
    fn read(inputs: &Inputs, env: &Environment) -> Result<Settings, Error> {
        let origins = inputs.origins();
        let mut settings = Settings::from_inputs(inputs, env).map_err(|e| e.named_by(&origins))?;
        settings.origins = origins;
        Ok(settings)
    }

    /// The settings of a run that asks for nothing but what `connection` says: no source, the
    /// default rules, `push: auto`, `release: auto`, no prune. `progress_bar`: a terminal.
    pub fn new(
        connection: Connection,
        vars: &BTreeMap<String, String>,
        progress_bar: bool,
    ) -> Settings {
        let actor = vars.get("GITHUB_ACTOR").cloned().unwrap_or_default();
        let Connection {
            insecure_hosts,
            ca_pem,
            username,
            password,
            token,
            gitlab_token,
        } = connection;
        let explicit = match (username.is_empty(), password.is_empty()) {
            (_, true) => None,
            // A token alone: registries that take a token accept any user name.
            (true, false) => Some(Credentials::Basic {
                username: if actor.is_empty() {
                    "tagship".into()
                } else {
                    actor.clone()
                },
                password,
            }),
            (false, false) => Some(Credentials::Basic { username, password }),
        };
        let github_access = forge::Access::GitHub(forge::github::Access {
            token: token.clone(),
            api_url: vars
                .get("GITHUB_API_URL")
                .filter(|u| !u.is_empty())
                .cloned()
                .unwrap_or_else(|| "https://api.github.com".into()),
            uploads_url: vars.get("TAGSHIP_GITHUB_UPLOADS_URL").cloned(),
            ca_pem: ca_pem.clone(),
        });
        // Releases and git tags go to the forge of the CI. GitHub Packages' registries are
        // GitHub's wherever tagship runs; a GitLab job's own registry is GitLab's.
        let on_gitlab = super::platform(vars) == Platform::GitLab;
        let gitlab = on_gitlab
            .then(|| forge::Access::GitLab(gitlab_access(vars, gitlab_token, ca_pem.clone())));
        let release_forge = gitlab.clone().unwrap_or_else(|| github_access.clone());
        let mut ci_registries = Vec::new();
        if !token.is_empty() {
            let username = if actor.is_empty() {
                "x-access-token".to_string()
            } else {
                actor
            };
            ci_registries.push((
                "ghcr.io".to_string(),
                Credentials::Basic {
                    username,
                    password: token,
                },
            ));
        }
        if on_gitlab {
            ci_registries.extend(gitlab_registry(vars));
        }
        Settings {
            metadata: PlanInputs {
                annotation_levels: vars
                    .get("DOCKER_METADATA_ANNOTATIONS_LEVELS")
                    .map(|l| {
                        l.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
                ..PlanInputs::default()
            },
            separators: ["\n".into(), "\n".into(), "\n".into()],
            push: PushMode::Auto,
            check_only: false,
            registry: PublishSettings {
                source: None,
                on_conflict: OnConflict::Overwrite,
                concurrency: 4,
                client: ClientSettings {
                    insecure_hosts,
                    ca_pem: ca_pem.clone(),
                    retry: RetryPolicy::default(),
                    ecr: super::ecr_registries(vars),
                },
                logins: Vec::new(),
                explicit,
                ci_registries,
                progress_bar,
                daemon: crate::registry::source::daemon::DaemonEnv::from_vars(vars),
            },
            release: ReleaseSettings {
                mode: ReleaseMode::Auto,
                draft: false,
                changelog: Changelog::Github,
                template: None,
                forge: release_forge,
                git_tags: false,
                assets: Vec::new(),
            },
            retention: RetentionSettings {
                enabled: false,
                policy: Policy::default(),
                dry_run: false,
                rollback_to: None,
                rollback_tags: crate::plan::tags::rollback_tags(Vec::new()),
                packages: PackagesAccess {
                    github: ForgeRegistries {
                        forge: github_access,
                        registries: super::github_packages_registries(vars),
                    },
                    gitlab: gitlab.map(|forge| ForgeRegistries {
                        forge,
                        registries: super::gitlab_registries(vars),
                    }),
                    docker_hub: forge::docker_hub::Access {
                        api_url: super::docker_hub_api_url(vars),
                        registries: super::docker_hub_registries(vars),
                        ca_pem: ca_pem.clone(),
                        retry: RetryPolicy::default(),
                    },
                },
            },
            attach: AttachSettings {
                carry: true,
                ..AttachSettings::default()
            },
            scan: ScanSettings::default(),
            action_file: None,
            hub_descriptions: DescriptionIntent::default(),
            dotenv: vars
                .get("TAGSHIP_DOTENV")
                .map(|p| p.trim())
                .filter(|p| !p.is_empty())
                .unwrap_or("tagship.env")
                .into(),
            origins: Origins::new(),
        }
    }

    /// The settings `inputs` give. Relative files (`source`, the notes template) are read from
    /// the workspace, but a path typed on the command line from the working directory.
    fn from_inputs(inputs: &Inputs, env: &Environment) -> Result<Settings, Error> {
        let workspace = env.workspace();
        let base = |name: &str| match inputs.origin(name) {
            Some(Origin::CommandLine(_)) => env.workdir.clone(),
            _ => workspace.clone(),
        };
        let connection = Connection::read(
            Some(inputs.string("ca-file")),
            inputs.list("insecure-registries"),
            inputs.string("registry-username").to_string(),
            Secret::new(inputs.raw("registry-password").trim()),
            github_token(inputs.raw("github-token"), &env.vars),
            Secret::new(inputs.raw("gitlab-token").trim()),
            env.style() == Style::Actions,
        )?;
        let mut settings = Settings::new(connection, &env.vars, env.progress_bar());
        let actor = env.vars.get("GITHUB_ACTOR").map_or("", |a| a.trim());
        for login in registry_logins::parse(inputs.raw("registry-logins"), actor)? {
            add_mask(&login.password, env.style() == Style::Actions);
            let basic =
                crate::registry::client::basic_value(&login.username, login.password.expose());
            add_mask(&Secret::new(basic), env.style() == Style::Actions);
            settings
                .registry
                .logins
                .push((login.registry.clone(), login.credentials()));
        }
        settings.metadata = PlanInputs {
            images: inputs.lines("images"),
            tags: inputs.lines("tags"),
            flavor: inputs.lines("flavor"),
            labels: inputs.lines("labels"),
            annotations: inputs.lines("annotations"),
            annotation_levels: settings.metadata.annotation_levels,
        };
        settings.separators = [
            inputs.separator("sep-tags"),
            inputs.separator("sep-labels"),
            inputs.separator("sep-annotations"),
        ];
        settings.push = parsed(
            inputs,
            "push",
            PushMode::parse,
            "use auto (push, except on pull requests), true or false",
        )?;
        settings.check_only = inputs.bool("check-only", false)?;

        let registry = &mut settings.registry;
        let merge = inputs.list("merge");
        registry.source = match inputs.string("source") {
            "" if merge.is_empty() => None,
            "" => Some(SourceSpec::Merge(
                source::merge::MergeSpec::parse(&merge, &base("merge"))
                    .map_err(PublishError::from)?,
            )),
            _ if !merge.is_empty() => {
                return Err(InputError::value(
                    "merge",
                    merge.join(", "),
                    "`source` is set too: give either `source` (one image to publish) or `merge` (per-platform images to join into one index), not both",
                )
                .into());
            }
            text => Some(
                SourceSpec::parse_relative_to(text, Some(&base("source")))
                    .map_err(PublishError::from)?,
            ),
        };
        registry.on_conflict = parsed(
            inputs,
            "on-conflict",
            OnConflict::parse,
            "use overwrite, fail or skip",
        )?;
        if !inputs.string("concurrency").is_empty() {
            registry.concurrency = parsed(
                inputs,
                "concurrency",
                |text| text.parse::<usize>().ok().filter(|n| (1..=32).contains(n)),
                "use a whole number from 1 to 32",
            )?;
        }

        let attach_base = base("attach");
        settings.attach.files = attach::parse_entries("attach", &inputs.lines("attach"))?
            .into_iter()
            .map(|entry| AttachFile::read(entry, &attach_base))
            .collect::<Result<_, _>>()?;
        settings.attach.carry = inputs.bool("carry-referrers", true)?;
        settings.scan.threshold = parsed(
            inputs,
            "fail-on-severity",
            |text| text.parse::<scan::Threshold>().ok(),
            "use critical, high, medium, low or none",
        )?;
        settings.scan.vex = settings
            .attach
            .files
            .iter()
            .filter(|file| scan::is_openvex(&file.bytes))
            .map(|file| {
                // Statements are parsed through serde's buffer, several times their size: an
                // OpenVEX document is kilobytes, so a bound far under the attachments' holds.
                if file.bytes.len() as u64 > crate::file::MAX_OPENVEX {
                    return Err(file.error(format!(
                        "{} is an OpenVEX document of {}, more than the {} tagship reads of one",
                        file.path.display(),
                        crate::output::human_bytes(file.bytes.len() as u64),
                        crate::output::human_bytes(crate::file::MAX_OPENVEX)
                    )));
                }
                scan::parse_openvex(&file.entry.path, &file.bytes)
                    .map_err(|e| file.error(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        // Each report travels with the image: attached as a referrer of its format.
        let scan_base = base("scan-report");
        for line in inputs.lines("scan-report") {
            let (report, file) = read_scan_report(line, &scan_base)?;
            settings.scan.reports.push(report);
            settings.attach.files.push(file);
        }

        let release = &mut settings.release;
        release.mode = parsed(
            inputs,
            "release",
            ReleaseMode::parse,
            "use auto, true or false",
        )?;
        release.draft = inputs.bool("release-draft", false)?;
        release.changelog = parsed(
            inputs,
            "changelog",
            Changelog::parse,
            "use github, commits or none",
        )?;
        release.template = match inputs.string("release-notes-template") {
            "" => None,
            path => Some(read_template(&base("release-notes-template"), path)?),
        };
        release.assets = super::release_assets::read(
            "release-assets",
            inputs.lines("release-assets"),
            &base("release-assets"),
        )?;
        release.git_tags = inputs.bool("git-tags", false)?;
        settings.action_file = match inputs.string("action-file") {
            "" => None,
            path => Some(read_action_file(&base("action-file"), path)?),
        };
        settings.hub_descriptions = read_hub_descriptions(inputs, &base("hub-description"))?;

        let retention = &mut settings.retention;
        retention.enabled = inputs.bool("prune", false)?;
        retention.policy = Policy {
            keep: match inputs.string("keep") {
                "" => None,
                text => Some(text.parse::<usize>().map_err(|_| {
                    InputError::value(
                        "keep",
                        text,
                        "use a whole number of versions to keep, at least 1",
                    )
                })?),
            },
            keep_majors: inputs.bool("keep-majors", false)?,
            older_than: match inputs.string("older-than") {
                "" => None,
                text => Some(policy::parse_age(text).map_err(RetentionError::from)?),
            },
            tag_filter: inputs
                .lines("tag-filter")
                .into_iter()
                .map(|l| l.text)
                .collect(),
            untagged: inputs.bool("untagged", false)?,
        };
        retention.dry_run = inputs.bool("prune-dry-run", false)?;
        retention.rollback_to =
            Some(inputs.string("rollback-to").to_string()).filter(|s| !s.is_empty());
        retention.rollback_tags = crate::plan::tags::rollback_tags(inputs.list("rollback-tags"));
        if retention.rollback_to.is_some() && settings.registry.source.is_some() {
            return Err(InputError::value(
                "rollback-to",
                inputs.string("rollback-to"),
                "a rollback moves tags to an earlier version, so it takes no `source`; use one or the other",
            )
            .into());
        }
        Ok(settings)
    }
}

/// A GitLab job's registry and its credentials for it: `CI_REGISTRY` with `CI_REGISTRY_USER` and
/// `CI_REGISTRY_PASSWORD` (the job token, valid while the job runs). GitLab masks them in its log.
fn gitlab_registry(vars: &BTreeMap<String, String>) -> Option<(String, Credentials)> {
    let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let registry = get("CI_REGISTRY")?;
    let username = get("CI_REGISTRY_USER")?;
    let password = get("CI_REGISTRY_PASSWORD")?;
    Some((
        registry.to_string(),
        Credentials::Basic {
            username: username.to_string(),
            password: Secret::new(password),
        },
    ))
}

/// Input `name` read by `parse`; `problem` says what to give instead when it does not parse.
fn parsed<T>(
    inputs: &Inputs,
    name: &str,
    parse: impl FnOnce(&str) -> Option<T>,
    problem: &str,
) -> Result<T, InputError> {
    let text = inputs.string(name);
    parse(text).ok_or_else(|| InputError::value(name, text, problem))
}

/// The settings given outside the action: `TAGSHIP_*` variables over `.tagship.yml`.
fn outside_the_action(env: &Environment) -> Result<Inputs, Error> {
    let file = settings_file::read(&env.workspace())?;
    Ok(Inputs::variables(&env.vars).over(file))
}

/// Reads the notes template at `path` (relative to `base`, the repository) and checks its
/// syntax: (the path as given, the text).
fn read_template(base: &Path, path: &str) -> Result<(String, String), Error> {
    let text = crate::file::read_text_at_most(&base.join(path), crate::file::MAX_TEMPLATE)
        .map_err(|e| {
            InputError::value(
                "release-notes-template",
                path,
                format!(
                    "cannot read it ({e}); give the path of a template file in the repository, relative to its root"
                ),
            )
        })?;
    notes::check(&text, path).map_err(ReleaseError::from)?;
    Ok((path.to_string(), text))
}

/// The Docker Hub descriptions: `hub-short-description`, and `hub-description`'s file (by default
/// the repository's README.md, when it has one), read under a bound.
fn read_hub_descriptions(inputs: &Inputs, base: &Path) -> Result<DescriptionIntent, InputError> {
    let too_long = inputs.string("hub-description-too-long");
    let too_long = TooLong::parse(too_long).ok_or_else(|| {
        InputError::value(
            "hub-description-too-long",
            too_long,
            "use error (stop, naming Docker Hub's limit) or cut (cut to it, with a warning)",
        )
    })?;
    let short =
        Some(inputs.string("hub-short-description").trim().to_string()).filter(|s| !s.is_empty());
    let full = match inputs.string("hub-description").trim() {
        "" => {
            let readme = base.join("README.md");
            crate::file::read_text_at_most(&readme, crate::file::MAX_HUB_DESCRIPTION)
                .ok()
                .map(|text| ("README.md".to_string(), text))
        }
        path => Some((
            path.to_string(),
            crate::file::read_text_at_most(&base.join(path), crate::file::MAX_HUB_DESCRIPTION)
                .map_err(|e| {
                    InputError::value(
                        "hub-description",
                        path,
                        format!("cannot read it ({e}); give the path of a Markdown file, relative to the repository's root"),
                    )
                })?,
        )),
    };
    let by_default = short.is_none() && inputs.string("hub-description").trim().is_empty();
    Ok(DescriptionIntent {
        short,
        full,
        too_long,
        by_default,
    })
}

/// Reads the action file at `path` (relative to `base`, the repository): `runs.using`, and
/// `runs.image` with its line, for the release's check that it names the pushed image.
fn read_action_file(base: &Path, path: &str) -> Result<ActionFile, InputError> {
    #[derive(serde::Deserialize)]
    struct Action {
        runs: Runs,
    }
    #[derive(serde::Deserialize)]
    struct Runs {
        #[serde(default)]
        using: String,
        image: Option<String>,
    }
    let invalid = |problem: String| InputError::value("action-file", path, problem);
    let text = crate::file::read_text_at_most(&base.join(path), crate::file::MAX_ACTION_FILE)
        .map_err(|e| {
            invalid(format!(
                "cannot read it ({e}); give the path of the action's action.yml (or action.yaml), relative to the repository's root"
            ))
        })?;
    let action: Action = serde_yaml_ng::from_str(&text).map_err(|e| {
        invalid(format!(
            "it is not an action file (`runs:` with `using:` and `image:`): {e}"
        ))
    })?;
    let image = action
        .runs
        .image
        .map(|image| (image.trim().to_string(), image_line(&text)));
    Ok(ActionFile {
        path: path.to_string(),
        using: action.runs.using,
        image,
    })
}

/// The line (1-based) of `image:` under the top-level `runs:` of an action file: a key at the
/// first indentation of `runs`'s block (not `runs.env.image`). `None` where there is none of its
/// own, as in flow style (`runs: {using: docker, image: …}`).
fn image_line(text: &str) -> Option<usize> {
    let unquoted = |key: &str| key.trim_start_matches(['"', '\'']).to_string();
    // `key:` at the start of `rest` (quoted or not), and what follows the colon.
    let after_key = |rest: &str, key: &str| -> Option<String> {
        let rest = unquoted(rest);
        let rest = rest
            .strip_prefix(key)?
            .trim_start_matches(['"', '\''])
            .trim_start();
        rest.strip_prefix(':').map(|value| value.trim().to_string())
    };
    let mut lines = text.lines().enumerate();
    // The top-level `runs:` with its block below it.
    loop {
        let (_, line) = lines.next()?;
        if line.starts_with([' ', '\t', '#']) {
            continue;
        }
        if let Some(value) = after_key(line, "runs") {
            if !value.is_empty() && !value.starts_with('#') {
                return None;
            }
            break;
        }
    }
    let mut child_indent = None;
    for (index, line) in lines {
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent = line.len() - content.len();
        if indent == 0 {
            return None;
        }
        let child = *child_indent.get_or_insert(indent);
        if indent == child && after_key(content, "image").is_some() {
            return Some(index + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environment whose workspace holds `file` as `.tagship.yml` (none when `None`).
    fn environment(name: &str, vars: &[(&str, &str)], file: Option<&str>) -> Environment {
        let workspace =
            std::env::temp_dir().join(format!("tagship-settings-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&workspace);
        std::fs::create_dir_all(&workspace).unwrap();
        if let Some(text) = file {
            std::fs::write(workspace.join(settings_file::SETTINGS_FILE), text).unwrap();
        }
        crate::ci::test_environment(vars, &workspace)
    }

    fn texts(lines: &[crate::plan::InputLine]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    const FILE: &str = "tags: type=raw,value=file\nflavor: [latest=false]\nimages: file/app\nkeep: 4\nsource: oci:nowhere\n";

    #[test]
    fn a_flag_beats_a_variable_beats_the_file_beats_the_default() {
        let env = environment(
            "layers",
            &[
                ("TAGSHIP_TAGS", "type=raw,value=variable"),
                ("TAGSHIP_IMAGES", "variable/app"),
                ("INPUT_LABELS", "from=input"),
            ],
            Some(FILE),
        );
        let mut line = CommandLine::default();
        line.lines("tags", "--tags", &["type=raw,value=flag".into()]);
        line.lines("images", "--images", &[]);
        line.lines("flavor", "--flavor", &[]);
        line.lines("labels", "--labels", &[]);
        let settings = Settings::command_line(&env, line).unwrap_or_else(|e| panic!("{e}"));
        let metadata = &settings.metadata;
        assert_eq!(texts(&metadata.tags), ["type=raw,value=flag"]);
        assert_eq!(texts(&metadata.images), ["variable/app"]);
        assert_eq!(texts(&metadata.flavor), ["latest=false"]);
        assert!(metadata.labels.is_empty(), "INPUT_* count for nothing here");
        assert_eq!(
            settings.retention.policy.keep, None,
            "not a setting this command reads"
        );
        assert!(
            settings.registry.source.is_none(),
            "what to do comes from the command line alone"
        );
        assert_eq!(
            settings.origins,
            Origins::from([
                ("flavor".into(), Origin::File { line: 2 }),
                ("images".into(), Origin::Variable("TAGSHIP_IMAGES".into())),
                ("tags".into(), Origin::CommandLine("--tags")),
            ])
        );
    }

    #[test]
    fn the_action_reads_its_inputs_on_github_and_its_settings_elsewhere() {
        let vars = [
            ("TAGSHIP_TAGS", "type=raw,value=variable"),
            ("INPUT_TAGS", "type=raw,value=input"),
            ("TAGSHIP_SOURCE", ""),
        ];
        let file = "images: file/app\nkeep: 4\n";
        let mut on_github = vars.to_vec();
        on_github.push(("GITHUB_ACTIONS", "true"));
        let (settings, _) = Settings::action(&environment("github", &on_github, Some(file)))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(texts(&settings.metadata.tags), ["type=raw,value=input"]);
        assert!(settings.metadata.images.is_empty(), "no file on GitHub");

        let mut on_gitlab = vars.to_vec();
        on_gitlab.push(("GITLAB_CI", "true"));
        let (settings, unknown) = Settings::action(&environment("gitlab", &on_gitlab, Some(file)))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(texts(&settings.metadata.tags), ["type=raw,value=variable"]);
        assert_eq!(texts(&settings.metadata.images), ["file/app"]);
        assert_eq!(settings.retention.policy.keep, Some(4));
        assert!(unknown.is_empty());
    }

    #[test]
    fn a_bad_value_is_named_as_it_was_given() {
        let shown = |env: &Environment| match Settings::action(env) {
            Ok(_) => panic!("a bad `keep` was read"),
            Err(e) => crate::error::Interface::Settings.words(&e.to_string(), &named_origins(&e)),
        };
        let from_variable = environment(
            "bad-variable",
            &[("GITLAB_CI", "true"), ("TAGSHIP_KEEP", "many")],
            Some("keep: 4\n"),
        );
        assert!(
            shown(&from_variable).starts_with("`TAGSHIP_KEEP` is `many`: use a whole number"),
            "{}",
            shown(&from_variable)
        );
        let from_file = environment(
            "bad-file",
            &[("GITLAB_CI", "true")],
            Some("images: a/b\nkeep: many\n"),
        );
        assert!(
            shown(&from_file).starts_with("`keep` in .tagship.yml (line 2) is `many`"),
            "{}",
            shown(&from_file)
        );
    }

    #[test]
    fn an_action_file_is_read_with_the_line_of_its_image() {
        let dir = std::env::temp_dir().join(format!("tagship-action-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("action.yml"),
            "name: x\ninputs:\n  image:\n    description: not this one\n\"runs\":\n  using: docker\n  # a comment\n  \"image\": \"docker://ghcr.io/o/a:1.0.0\"\n",
        )
        .unwrap();
        let file = read_action_file(&dir, "action.yml").unwrap();
        assert_eq!(file.using, "docker");
        assert_eq!(
            file.image,
            Some(("docker://ghcr.io/o/a:1.0.0".to_string(), Some(8)))
        );
        for (text, line) in [
            // Flow style: no line of its own.
            ("runs: {using: docker, image: docker://o/a:1}\n", None),
            // `runs.env.image` is no image; the one at the block's first indentation is.
            (
                "runs:\n    using: docker\n    env:\n      image: not-this\n    image: docker://o/a:1\n",
                Some(5),
            ),
            (
                "runs:\n  env:\n    image: not-this\n  using: Docker\n",
                None,
            ),
            ("runs: # the action\n  image: docker://o/a:1\n", Some(2)),
        ] {
            assert_eq!(image_line(text), line, "{text}");
        }
        std::fs::write(
            dir.join("node.yml"),
            "name: x\nruns:\n  using: node20\n  main: index.js\n",
        )
        .unwrap();
        let file = read_action_file(&dir, "node.yml").unwrap();
        assert_eq!((file.using.as_str(), file.image), ("node20", None));
        for (path, problem) in [
            ("missing.yml", "cannot read it"),
            ("action.yml/", "cannot read it"),
        ] {
            let error = read_action_file(&dir, path).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("input `action-file` is `{path}`: {problem}")),
                "{error}"
            );
        }
        std::fs::write(dir.join("bad.yml"), "name: x\n").unwrap();
        let error = read_action_file(&dir, "bad.yml").unwrap_err().to_string();
        assert!(error.contains("it is not an action file"), "{error}");
    }

    fn named_origins(error: &Error) -> Origins {
        match error {
            Error::Named { origins, .. } => origins.clone(),
            _ => Origins::new(),
        }
    }
}
