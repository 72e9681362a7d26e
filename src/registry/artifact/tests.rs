use super::*;

fn spdx() -> &'static [u8] {
    br#"{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"app","documentNamespace":"https://example.com/app","creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: test"]},"packages":[]}"#
}

fn subject() -> Descriptor {
    Descriptor::new(OCI_INDEX, Digest::of(b"the image index"), 15)
}

fn file(bytes: &[u8]) -> ArtifactFile {
    ArtifactFile {
        title: "sbom.spdx.json".into(),
        digest: Digest::of(bytes),
        size: bytes.len() as u64,
        media_type: SPDX_JSON.into(),
        artifact_type: SPDX_JSON.into(),
    }
}

#[test]
fn each_format_is_told_by_its_own_fields() {
    let statement = |predicate: &str| {
        format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"{predicate}","predicate":{{}}}}"#
        )
    };
    let envelope = |payload: &str, payload_type: &str| {
        use base64::Engine as _;
        format!(
            r#"{{"payloadType":"{payload_type}","payload":"{}","signatures":[{{"keyid":"","sig":"AA=="}}]}}"#,
            base64::engine::general_purpose::STANDARD.encode(payload)
        )
    };
    type Expected<'a> = Option<(ArtifactKind, &'a str, &'a str)>;
    let cases: Vec<(String, Expected)> = vec![
        (
            String::from_utf8(spdx().to_vec()).unwrap(),
            Some((ArtifactKind::Sbom, SPDX_JSON, "SPDX 2.3")),
        ),
        (
            r#"{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[]}"#.into(),
            Some((ArtifactKind::Sbom, CYCLONEDX_JSON, "CycloneDX 1.5")),
        ),
        (
            r#"{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2026-01-01T00:00:00Z","version":1,"statements":[]}"#.into(),
            Some((ArtifactKind::Vex, OPENVEX_JSON, "OpenVEX")),
        ),
        (
            statement("https://slsa.dev/provenance/v1"),
            Some((ArtifactKind::Provenance, IN_TOTO_JSON, "in-toto statement (SLSA provenance)")),
        ),
        (
            statement("https://spdx.dev/Document/v2.3"),
            Some((ArtifactKind::Sbom, IN_TOTO_JSON, "in-toto statement (SPDX)")),
        ),
        (
            statement("https://example.com/custom"),
            Some((ArtifactKind::Other, IN_TOTO_JSON, "in-toto statement (other predicate)")),
        ),
        (
            envelope(&statement("https://slsa.dev/provenance/v0.2"), IN_TOTO_JSON),
            Some((
                ArtifactKind::Provenance,
                DSSE_ENVELOPE,
                "DSSE envelope of an in-toto statement (SLSA provenance)",
            )),
        ),
        (
            envelope("anything", "text/plain"),
            Some((ArtifactKind::Signature, DSSE_ENVELOPE, "DSSE envelope")),
        ),
        (
            r#"{"version":"2.1.0","$schema":"https://json.schemastore.org/sarif-2.1.0.json","runs":[]}"#.into(),
            Some((ArtifactKind::Other, SARIF_JSON, "SARIF 2.1.0")),
        ),
        // What is none of these: the entry must say `artifact-type=`.
        (r#"{"spdxVersion":"2.3"}"#.into(), None),
        (r#"{"_type":"https://example.com/Statement"}"#.into(), None),
        ("not json".into(), None),
        ("[]".into(), None),
    ];
    for (text, expected) in cases {
        let found = detect(text.as_bytes()).map(|d| (d.kind, d.media_type, d.format));
        let expected = expected.map(|(k, m, f)| (k, m, f.to_string()));
        assert_eq!(found, expected, "{text}");
    }
}

#[test]
fn the_artifact_manifest_attaches_one_file_to_its_subject() {
    let (manifest, descriptor) =
        artifact_manifest(&subject(), &file(spdx()), "2026-12-07T00:00:00Z");
    let doc: Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(doc["schemaVersion"], 2);
    assert_eq!(doc["mediaType"], OCI_MANIFEST);
    assert_eq!(doc["artifactType"], SPDX_JSON);
    assert_eq!(doc["config"]["mediaType"], EMPTY_CONFIG_MEDIA_TYPE);
    assert_eq!(
        doc["config"]["digest"],
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    assert_eq!(doc["config"]["size"], 2);
    assert_eq!(doc["config"]["data"], "e30=");
    assert_eq!(doc["layers"].as_array().unwrap().len(), 1);
    assert_eq!(doc["layers"][0]["mediaType"], SPDX_JSON);
    assert_eq!(doc["layers"][0]["digest"], Digest::of(spdx()).as_str());
    assert_eq!(doc["layers"][0]["size"], spdx().len());
    assert_eq!(
        doc["layers"][0]["annotations"][ANNOTATION_TITLE],
        "sbom.spdx.json"
    );
    assert_eq!(doc["subject"]["mediaType"], OCI_INDEX);
    assert_eq!(doc["subject"]["digest"], subject().digest.as_str());
    assert_eq!(doc["subject"]["size"], 15);
    assert_eq!(
        doc["annotations"][ANNOTATION_CREATED],
        "2026-12-07T00:00:00Z"
    );
    assert_eq!(doc["annotations"][ANNOTATION_TITLE], "sbom.spdx.json");
    // Its descriptor names exactly these bytes, with the artifact type and annotations copied up.
    assert_eq!(descriptor.digest, Digest::of(&manifest));
    assert_eq!(descriptor.size, manifest.len() as u64);
    assert_eq!(descriptor.media_type, OCI_MANIFEST);
    assert_eq!(descriptor.artifact_type.as_deref(), Some(SPDX_JSON));
    assert_eq!(
        descriptor.annotations[ANNOTATION_CREATED],
        "2026-12-07T00:00:00Z"
    );
}

#[test]
fn the_fallback_index_gains_what_it_lacks_and_keeps_what_others_wrote() {
    let created = "2026-12-07T00:00:00Z";
    let (_, first) = artifact_manifest(&subject(), &file(spdx()), created);
    assert_eq!(first.artifact_type.as_deref(), Some(SPDX_JSON));
    assert_eq!(first.annotations[ANNOTATION_TITLE], "sbom.spdx.json");

    let index = merge_index(None, std::slice::from_ref(&first))
        .unwrap()
        .expect("a new index");
    let doc: Value = serde_json::from_slice(&index).unwrap();
    assert_eq!(doc["mediaType"], OCI_INDEX);
    assert_eq!(parse_referrers(&index).unwrap(), vec![first.clone()]);
    // Already listed: nothing to write.
    assert_eq!(
        merge_index(Some(&index), std::slice::from_ref(&first)).unwrap(),
        None
    );

    // Another tool's index, with an entry and a field of its own: both survive the merge.
    let theirs = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","annotations":{{"by":"cosign"}},"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":9,"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","x-extra":true}}]}}"#,
        Digest::of(b"signature")
    );
    let merged = merge_index(Some(theirs.as_bytes()), std::slice::from_ref(&first))
        .unwrap()
        .unwrap();
    let doc: Value = serde_json::from_slice(&merged).unwrap();
    assert_eq!(doc["annotations"]["by"], "cosign");
    assert_eq!(doc["manifests"][0]["x-extra"], true);
    assert_eq!(doc["manifests"][1]["digest"], first.digest.as_str());
    assert_eq!(parse_referrers(&merged).unwrap().len(), 2);

    assert!(merge_index(Some(b"{\"manifests\":3}"), std::slice::from_ref(&first)).is_err());
    assert!(parse_referrers(b"not json").is_err());
}

#[test]
fn fallback_tags_name_their_subject() {
    let digest = Digest::of(b"x");
    let tag = fallback_tag(&digest);
    assert_eq!(tag, format!("sha256-{}", digest.hex()));
    assert_eq!(fallback_index_subject(&tag), Some(digest.clone()));
    for not_one in [format!("{tag}.sig"), "sha256-abc".into(), "1.2.3".into()] {
        assert_eq!(fallback_index_subject(&not_one), None, "{not_one}");
    }
    // What retention reads as the tag of a referrer of `digest`.
    assert_eq!(
        crate::plan::retention::referrer_subject(&tag),
        Some(digest.to_string())
    );
}

#[test]
fn kinds_parse_as_people_write_them() {
    assert_eq!(ArtifactKind::parse(" SBOM "), Some(ArtifactKind::Sbom));
    assert_eq!(ArtifactKind::parse("vex"), Some(ArtifactKind::Vex));
    assert_eq!(ArtifactKind::parse("sboms"), None);
    assert_eq!(
        ArtifactKind::of_artifact_type("application/vnd.dev.sigstore.bundle.v0.3+json"),
        ArtifactKind::Signature
    );
    assert_eq!(
        ArtifactKind::of_artifact_type(SPDX_JSON),
        ArtifactKind::Sbom
    );
}

#[test]
fn buildx_attestations_are_told_by_their_annotations_and_predicates() {
    let image = Digest::of(b"the amd64 image");
    let attestation = Digest::of(b"its attestation manifest");
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": image, "size": 10,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": OCI_MANIFEST, "digest": attestation, "size": 20,
             "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                             "vnd.docker.reference.digest": image}},
            // Unknown/unknown without buildx's annotations is no attestation of an image.
            {"mediaType": OCI_MANIFEST, "digest": Digest::of(b"other"), "size": 5,
             "platform": {"os": "unknown", "architecture": "unknown"}},
        ],
    });
    let found = attestations_in(&serde_json::to_vec(&index).unwrap());
    assert_eq!(found, vec![(attestation.clone(), image.clone())]);
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::of(b"c"), "size": 1},
        "layers": [
            {"mediaType": IN_TOTO_JSON, "digest": Digest::of(b"p"), "size": 1500,
             "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}},
            {"mediaType": IN_TOTO_JSON, "digest": Digest::of(b"s"), "size": 9000,
             "annotations": {"in-toto.io/predicate-type": "https://spdx.dev/Document"}},
        ],
    });
    let read = attestation_statements(
        attestation.clone(),
        image.clone(),
        &serde_json::to_vec(&manifest).unwrap(),
    );
    assert_eq!(read.subject, image);
    assert_eq!(
        read.statements,
        vec![
            (
                ArtifactKind::Provenance,
                "https://slsa.dev/provenance/v0.2".to_string(),
                1500
            ),
            (
                ArtifactKind::Sbom,
                "https://spdx.dev/Document".to_string(),
                9000
            ),
        ]
    );
    assert!(attestations_in(b"not json").is_empty());
}
