//! `tagship attach IMAGE@DIGEST FILE…`: attach files to an image pushed earlier.

use clap::Args;

use super::{ConnectFlags, Format};
use crate::ci::Environment;
use crate::ci::inputs::CommandLine;
use crate::ci::settings::Settings;
use crate::error::Error;
use crate::plan::InputError;
use crate::plan::images::ImageName;
use crate::registry::digest::Digest;
use crate::run::commands;

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The image to attach to, by digest: REPOSITORY@sha256:… (as `tagship push` printed it).
    pub image: String,
    /// The files: PATH[,type=sbom|provenance|vex|signature|scan|other][,artifact-type=MEDIA_TYPE]
    /// [,platform=OS/ARCH]. SPDX and CycloneDX JSON, in-toto statements, DSSE envelopes,
    /// OpenVEX and SARIF are recognised by their content.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Print what would be attached where; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How --dry-run prints the run plan: text to read, or JSON for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub connect: ConnectFlags,
}

/// `IMAGE` as `tagship attach` takes it: a repository and a digest.
fn subject_argument(typed: &str) -> Result<(ImageName, Digest), InputError> {
    let refuse = |problem: String| InputError::value("IMAGE", typed, problem);
    let Some((repository, digest)) = typed.trim().split_once('@') else {
        return Err(refuse(
            "name the image by digest: tagship attach ghcr.io/OWNER/APP@sha256:… FILE (a tag can move; the digest is what the files describe)".into(),
        ));
    };
    let digest = Digest::parse(digest).map_err(|e| refuse(e.to_string()))?;
    let image = ImageName::parse(repository).map_err(|e| refuse(e.to_string()))?;
    Ok((image, digest))
}

pub fn attach(args: AttachArgs, env: &Environment) -> Result<(), Error> {
    let (image, digest) = subject_argument(&args.image)?;
    let mut line = CommandLine::default();
    line.lines("attach", "FILE", &args.files);
    args.connect.declare(&mut line);
    let mut settings = Settings::command_line(env, line)?;
    settings.attach.subject = Some(digest.to_string());
    commands::attach(
        env,
        &image,
        &settings,
        args.dry_run,
        args.format == Format::Json,
    )
    .map_err(|e| e.named_by(&settings.origins))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_is_named_by_digest() {
        let digest = Digest::of(b"x");
        let (image, parsed) = subject_argument(&format!("127.0.0.1:5000/App@{digest}")).unwrap();
        assert_eq!(image.as_str(), "127.0.0.1:5000/app");
        assert_eq!(parsed, digest);
        for (typed, expected) in [
            ("ghcr.io/o/app", "name the image by digest"),
            ("ghcr.io/o/app:1.0", "name the image by digest"),
            ("ghcr.io/o/app@sha256:12", "is not a sha256 digest"),
        ] {
            let e = subject_argument(typed).unwrap_err().to_string();
            assert!(e.contains(expected), "{typed}: {e}");
        }
    }
}
