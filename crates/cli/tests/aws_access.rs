//! AWS access from the default build: HTTPS through `kvs-mkv serve --tls-cert/--tls-key` with a
//! CA made at run time (`--ca-bundle`, a clear certificate error without it, `--no-verify-ssl`,
//! and the real AWS CLI with `--ca-bundle`), and `--profile` / `AWS_PROFILE` / `--region`
//! picking credentials and region from a temporary ~/.aws (kvs-local records the SigV4
//! credential scope of each request).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::bin;
use kvs_local::{LocalKvs, Source};

/// A fresh directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvs-aws-access-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A CA and a server certificate it signed for 127.0.0.1 and localhost: writes ca.pem,
/// server.pem and server.key into `dir`.
fn make_certificates(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "kvs-mkv test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    leaf.use_authority_key_identifier_extension = true;
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
}

/// `kvs-mkv serve` over HTTPS on a free port; returns the child and its URL. Killed on drop.
struct Served(Child, String, #[allow(dead_code)] Option<BufReader<std::process::ChildStdout>>);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve_https(dir: &Path) -> Served {
    serve_https_file(dir, &common::testdata().join("getmedia_basic.mkv"))
}

/// As [`serve_https`], with `file` as stream `cam`.
fn serve_https_file(dir: &Path, file: &Path) -> Served {
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--stream"])
        .arg(format!("cam={}", file.display()))
        .arg("--tls-cert")
        .arg(dir.join("server.pem"))
        .arg("--tls-key")
        .arg(dir.join("server.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut first = String::new();
    // Kept open: serve prints more lines, and a closed pipe would end it.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut first).unwrap();
    let url = first.split_whitespace().find(|w| w.starts_with("https://")).unwrap_or_default().to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "serve printed {first:?}");
    assert!(first.contains("HTTPS"), "{first}");
    Served(child, url, Some(stdout))
}

/// A command with no AWS_* variable of the environment this test runs in.
fn clean(mut cmd: Command) -> Command {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// `kvs-mkv get-media --endpoint-url URL --json --start-selector-type EARLIEST --stream-name
/// cam`, with no AWS_* variable of this test's environment.
fn get_media_cmd(url: &str) -> Command {
    let mut cmd = clean(bin());
    cmd.args(["get-media", "--endpoint-url", url, "--json", "--start-selector-type", "EARLIEST"])
        .args(["--stream-name", "cam"]);
    cmd
}

fn get_media(url: &str, extra: &[&str]) -> Output {
    let mut cmd = get_media_cmd(url);
    cmd.args(extra)
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    cmd.output().unwrap()
}

fn fragment_lines(out: &Output) -> usize {
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains("\"fragment_number\"")).count()
}

#[test]
fn get_media_reads_https_with_ca_bundle_refuses_an_unknown_ca_and_skips_checks_on_request() {
    let dir = temp_dir("https");
    make_certificates(&dir);
    let served = serve_https(&dir);
    let url = served.1.clone();
    let want = fragment_lines(
        &bin()
            .arg("fragments")
            .arg("--json")
            .arg(common::testdata().join("getmedia_basic.mkv"))
            .output()
            .unwrap(),
    );
    assert!(want >= 5, "{want}");

    let ca = dir.join("ca.pem");
    let out = get_media(&url, &["--ca-bundle", ca.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fragment_lines(&out), want);

    // The same CA from AWS_CA_BUNDLE.
    let out = get_media_cmd(&url)
        .env("AWS_CA_BUNDLE", &ca)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fragment_lines(&out), want);

    // The system's roots do not know the test CA: a clear certificate error, not a retry loop.
    let out = get_media(&url, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("certificate is not trusted") && err.contains("UnknownIssuer"), "{err}");

    // A bundle that is not PEM: refused before any request.
    std::fs::write(dir.join("junk.pem"), "not a certificate\n").unwrap();
    let out = get_media(&url, &["--ca-bundle", dir.join("junk.pem").to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--ca-bundle") && err.contains("no PEM certificate"), "{err}");

    let out = get_media(&url, &["--no-verify-ssl"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fragment_lines(&out), want);
    drop(served);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn aws_cli_reads_through_serve_tls_with_ca_bundle() {
    let Some(aws) = kvs_testkit::aws_cli() else { return };
    let dir = temp_dir("awscli");
    make_certificates(&dir);
    let served = serve_https(&dir);
    let url = served.1.clone();
    let ca = dir.join("ca.pem");
    let aws_cmd = |args: &[&str]| {
        let mut cmd = clean(Command::new(&aws));
        cmd.args(args)
            .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_PAGER", "");
        cmd.output().unwrap()
    };
    let out = aws_cmd(&[
        "kinesisvideo",
        "get-data-endpoint",
        "--endpoint-url",
        &url,
        "--ca-bundle",
        ca.to_str().unwrap(),
        "--stream-name",
        "cam",
        "--api-name",
        "GET_MEDIA",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let data = v["DataEndpoint"].as_str().unwrap().to_owned();
    assert_eq!(data, url);
    let saved = dir.join("out.mkv");
    let out = aws_cmd(&[
        "kinesis-video-media",
        "get-media",
        "--endpoint-url",
        &data,
        "--ca-bundle",
        ca.to_str().unwrap(),
        "--stream-name",
        "cam",
        "--start-selector",
        "StartSelectorType=EARLIEST",
        saved.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want = std::fs::read(common::testdata().join("getmedia_basic.mkv")).unwrap();
    let got = bin().arg("fragments").arg("--json").arg(&saved).output().unwrap();
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    assert_eq!(
        fragment_lines(&got),
        5,
        "{} bytes saved of {}",
        std::fs::metadata(&saved).unwrap().len(),
        want.len()
    );
    // Without the CA the AWS CLI refuses the certificate too.
    let out = aws_cmd(&[
        "kinesisvideo",
        "get-data-endpoint",
        "--endpoint-url",
        &url,
        "--stream-name",
        "cam",
        "--api-name",
        "GET_MEDIA",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CERTIFICATE_VERIFY_FAILED"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(served);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A temporary HOME with ~/.aws/config and ~/.aws/credentials holding profiles `alpha` and
/// `beta` (keys and region), and `empty` (a region, no keys).
fn aws_home(name: &str) -> PathBuf {
    let home = temp_dir(name);
    let aws = home.join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("config"),
        "[default]\nregion = sa-east-1\n\n[profile alpha]\nregion = us-west-2\n\n[profile beta]\nregion = eu-west-1\n\n\
         [profile empty]\nregion = eu-north-1\n",
    )
    .unwrap();
    std::fs::write(
        aws.join("credentials"),
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n\n\
         [alpha]\naws_access_key_id = AKIDALPHA\naws_secret_access_key = a\n\n\
         [beta]\naws_access_key_id = AKIDBETA\naws_secret_access_key = b\n",
    )
    .unwrap();
    home
}

#[test]
fn profile_aws_profile_and_region_pick_the_signing_key_and_region() {
    let home = aws_home("profiles");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = rt.block_on(async {
        LocalKvs::builder()
            .stream("cam", Source::file(common::testdata().join("getmedia_basic.mkv")).unwrap())
            .bind("127.0.0.1:0")
            .await
            .unwrap()
    });
    let url = server.url().to_owned();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let before = server.credential_scopes().len();
        let mut cmd = get_media_cmd(&url);
        cmd.args(args).env("HOME", &home);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{args:?} {env:?}: {}", String::from_utf8_lossy(&out.stderr));
        let scopes = server.credential_scopes();
        let new = &scopes[before..];
        assert!(
            new.iter().any(|s| s.path == "/getDataEndpoint") && new.iter().any(|s| s.path == "/getMedia"),
            "{new:?}"
        );
        let keys: std::collections::BTreeSet<(String, String)> =
            new.iter().map(|s| (s.access_key_id.clone(), s.region.clone())).collect();
        assert_eq!(keys.len(), 1, "{args:?} {env:?}: {keys:?}");
        assert!(new.iter().all(|s| s.service == "kinesisvideo"), "{new:?}");
        keys.into_iter().next().unwrap()
    };
    let pair = |k: &str, r: &str| (k.to_owned(), r.to_owned());
    assert_eq!(run(&[], &[]), pair("AKIDDEFAULT", "sa-east-1"));
    assert_eq!(run(&["--profile", "beta"], &[]), pair("AKIDBETA", "eu-west-1"));
    assert_eq!(run(&["--profile", "alpha"], &[]), pair("AKIDALPHA", "us-west-2"));
    assert_eq!(run(&[], &[("AWS_PROFILE", "beta")]), pair("AKIDBETA", "eu-west-1"));
    // --profile beats AWS_PROFILE; --region beats the profile and the environment.
    assert_eq!(run(&["--profile", "alpha"], &[("AWS_PROFILE", "beta")]), pair("AKIDALPHA", "us-west-2"));
    assert_eq!(run(&["--profile", "beta", "--region", "ap-south-1"], &[]), pair("AKIDBETA", "ap-south-1"));
    // The environment's region beats the profile's; its keys beat the profile's.
    assert_eq!(
        run(&["--profile", "beta"], &[("AWS_REGION", "ca-central-1")]),
        pair("AKIDBETA", "ca-central-1")
    );
    assert_eq!(
        run(&["--profile", "beta"], &[("AWS_ACCESS_KEY_ID", "AKIDENV"), ("AWS_SECRET_ACCESS_KEY", "e")]),
        pair("AKIDENV", "eu-west-1")
    );
    // Nothing names a region or keys (an empty HOME): us-east-1 and the local placeholder.
    let empty = temp_dir("empty-home");
    let before = server.credential_scopes().len();
    let out = get_media_cmd(&url).env("HOME", &empty).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let last = server.credential_scopes()[before..].to_vec();
    assert!(
        !last.is_empty() && last.iter().all(|s| s.access_key_id == "AKIDLOCAL" && s.region == "us-east-1"),
        "{last:?}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn help_documents_the_aws_access_flags() {
    let out = bin().args(["get-media", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--profile",
        "--ca-bundle",
        "--no-verify-ssl",
        "--region",
        "--endpoint-url",
        "credential_process",
        "SSO",
    ] {
        assert!(help.contains(flag), "get-media --help lacks {flag}");
    }
    assert!(!help.contains("`aws` feature"), "{help}");
    let out = bin().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--tls-cert") && help.contains("--tls-key"), "{help}");
}

/// The images fixture (10 fps of 320x240 H.264 from producer time 1700000000).
fn images_fixture() -> PathBuf {
    common::testdata().join("images").join("h264.mkv")
}

/// `kvs-mkv images` with a small request (1700000000 to +1 s every 500 ms, JPEG 60 high)
/// after `source` (a file, or --stream-name and the AWS access options).
fn images_cmd(source: &[&str]) -> Command {
    let mut cmd = clean(bin());
    cmd.arg("images")
        .args(source)
        .args(["--image-selector-type", "PRODUCER_TIMESTAMP", "--start-timestamp", "1700000000"])
        .args(["--end-timestamp", "1700000001", "--sampling-interval", "500", "--format", "JPEG"])
        .args(["--height-pixels", "60"]);
    cmd
}

/// The JSON an `images` run printed, after checking it succeeded.
fn images_json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn images_reads_https_with_ca_bundle_and_a_profile() {
    let dir = temp_dir("images-https");
    make_certificates(&dir);
    let served = serve_https_file(&dir, &images_fixture());
    let url = served.1.clone();
    let ca = dir.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let want = images_json(&images_cmd(&[images_fixture().to_str().unwrap()]).output().unwrap());
    let list = want["Images"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{want}");
    assert!(list.iter().all(|i| i["ImageContent"].is_string()), "{want}");
    let stream = ["--endpoint-url", url.as_str(), "--stream-name", "cam"];
    let keys = [("AWS_ACCESS_KEY_ID", "AKIDLOCAL"), ("AWS_SECRET_ACCESS_KEY", "local")];

    // GetImages and GetMedia (--from-get-media), trusting the test CA with --ca-bundle.
    for extra in [&[][..], &["--from-get-media"][..]] {
        let out = images_cmd(&stream).args(["--ca-bundle", ca]).args(extra).envs(keys).output().unwrap();
        assert_eq!(images_json(&out), want, "{extra:?}");
    }
    // The credentials and region of --profile alpha (a temporary HOME), and AWS_CA_BUNDLE.
    let home = aws_home("images-profile");
    let out = images_cmd(&stream)
        .args(["--profile", "alpha", "--ca-bundle", ca])
        .env("HOME", &home)
        .output()
        .unwrap();
    assert_eq!(images_json(&out), want);
    let out =
        images_cmd(&stream).args(["--profile", "beta"]).env("HOME", &home).env("AWS_CA_BUNDLE", ca).output();
    assert_eq!(images_json(&out.unwrap()), want);
    // The system's roots do not know the test CA; --no-verify-ssl checks nothing.
    let out = images_cmd(&stream).envs(keys).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("certificate is not trusted") && err.contains("UnknownIssuer"), "{err}");
    let out = images_cmd(&stream).arg("--no-verify-ssl").envs(keys).output().unwrap();
    assert_eq!(images_json(&out), want);
    drop(served);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn images_signs_with_the_profile_it_is_given() {
    let home = aws_home("images-scopes");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = rt.block_on(async {
        LocalKvs::builder()
            .stream("cam", Source::file(images_fixture()).unwrap())
            .bind("127.0.0.1:0")
            .await
            .unwrap()
    });
    let url = server.url().to_owned();
    for (args, key, region) in [
        (&["--profile", "beta"][..], "AKIDBETA", "eu-west-1"),
        (&["--profile", "alpha", "--region", "ap-south-1"][..], "AKIDALPHA", "ap-south-1"),
        (&[][..], "AKIDDEFAULT", "sa-east-1"),
    ] {
        let before = server.credential_scopes().len();
        let out = images_cmd(&["--endpoint-url", &url, "--stream-name", "cam"])
            .args(args)
            .env("HOME", &home)
            .output()
            .unwrap();
        assert_eq!(images_json(&out)["Images"].as_array().unwrap().len(), 3, "{args:?}");
        let new = server.credential_scopes()[before..].to_vec();
        assert!(new.iter().any(|s| s.path == "/getImages"), "{args:?}: {new:?}");
        assert!(new.iter().all(|s| s.access_key_id == key && s.region == region), "{args:?}: {new:?}");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&home);
}

/// Arguments, environment, and what the error line must hold.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn an_unknown_profile_or_one_without_keys_fails_at_once_with_one_clear_line() {
    let home = aws_home("unknown-profile");
    // A loopback endpoint where nothing listens, and AWS's own (no request may be made).
    let local = ["--endpoint-url", "http://127.0.0.1:9"];
    let cases: [Case; 6] = [
        (&["--profile", "nope"], &[], r#"profile "nope" not found in ~/.aws/config or ~/.aws/credentials"#),
        (&["--profile", "nope", "--endpoint-url", "http://127.0.0.1:9"], &[], r#"profile "nope" not found"#),
        (&[], &[("AWS_PROFILE", "nope")], r#"profile "nope" (from AWS_PROFILE) not found in ~/.aws/config"#),
        (&local, &[("AWS_PROFILE", "nope")], r#"profile "nope" (from AWS_PROFILE) not found"#),
        (
            &["--profile", "empty"],
            &[],
            r#"no AWS credentials: none in the environment (AWS_ACCESS_KEY_ID), in profile "empty" of"#,
        ),
        (
            &["--profile", "empty", "--endpoint-url", "http://127.0.0.1:9"],
            &[],
            r#"no AWS credentials: none in the environment (AWS_ACCESS_KEY_ID), in profile "empty" of"#,
        ),
    ];
    for (args, env, want) in cases {
        for command in ["get-media", "images"] {
            let mut cmd = if command == "images" {
                images_cmd(&["--stream-name", "cam"])
            } else {
                let mut c = clean(bin());
                c.args(["get-media", "--stream-name", "cam", "--start-selector-type", "EARLIEST"]);
                c
            };
            cmd.args(args).envs(env.iter().copied()).env("HOME", &home);
            let started = std::time::Instant::now();
            let out = cmd.output().unwrap();
            let took = started.elapsed();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{command} {args:?} {env:?}: {err}");
            assert!(took < std::time::Duration::from_secs(5), "{command} {args:?}: {took:?}");
            assert!(err.contains(want), "{command} {args:?} {env:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{command} {args:?} {env:?}: {err}");
            assert!(err.starts_with(&format!("kvs-mkv {command}: ")), "{err}");
            assert!(!err.contains("dispatch failure"), "{err}");
        }
    }
    // The files AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE name are the ones reported.
    let out = clean(bin())
        .args(["get-media", "--stream-name", "cam", "--profile", "nope"])
        .env("AWS_CONFIG_FILE", home.join(".aws/config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            r#"profile "nope" not found in {} or /dev/null"#,
            home.join(".aws/config").display()
        )),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn images_help_documents_the_aws_access_flags() {
    let out = bin().args(["images", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--profile", "--ca-bundle", "--no-verify-ssl", "--region", "--endpoint-url", "AWS access"] {
        assert!(help.contains(flag), "images --help lacks {flag}");
    }
    assert!(!help.contains("`aws` feature"), "{help}");
}
